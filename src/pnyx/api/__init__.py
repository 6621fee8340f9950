"""The REST API edge: FastAPI routes that translate HTTP to service calls and back."""
