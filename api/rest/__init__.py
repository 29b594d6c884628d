"""The REST surface: the FastAPI app (`app.create_app`), one router per resource, auth, limits, uploads, jobs.

Routes parse and check requests, call the Service (api/service/), and answer with the models of
api/client/schemas.py.
"""
