"""Every surface of vtrag, one room each: service/ (the facade and the answer pipeline), rest/ (FastAPI),
cli/ (typer), client/ (the SDK), and settings.py (the one settings object).

Importing `api` loads nothing: the SDK (`api.client`) must import on its own with httpx and pydantic only.
"""
