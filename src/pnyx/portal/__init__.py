"""The web portal edge: server-rendered pages over the same services as the API."""
