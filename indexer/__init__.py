"""vtrag indexer layer."""
