"""vtrag indexer layer: the offline build (sources, page text or OCR, embed, encode, write)."""
