"""vtrag retriever layer: Milvus schema, page rows, token blobs, manifest, search (IndexStore)."""
