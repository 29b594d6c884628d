"""The web page `vtrag serve` shows at `/`: static files (no build step, nothing fetched from elsewhere)."""
