"""The HTTP API: FastAPI routes over the run manager, the app database and memory."""
