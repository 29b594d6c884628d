"""vtrag decoder layer: stored tokens + prompt -> text; the extractive readers (rule-based and trained)."""
