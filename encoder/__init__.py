"""vtrag encoder layer: image -> vision tokens (modes, DeepEncoder v1, OCR-2, checkpoints); MiniLM."""
