"""vtrag retriever layer."""
