"""vtrag decoder layer."""
