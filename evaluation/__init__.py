"""The evaluation suite, a tool about the product: datasets, metrics and the `vtrag eval` runners.

It drives vtrag through the Service (api/service/) the way a user would and scores what comes out; nothing of
vtrag imports it except the CLI commands that run it (`vtrag eval`, `vtrag reader train`). docs/EVALUATION.md.
"""
