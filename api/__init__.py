"""vtrag api layer."""
