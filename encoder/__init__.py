"""vtrag encoder layer."""
