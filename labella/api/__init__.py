"""The REST API: FastAPI routers that parse, call one service function and render JSON."""
