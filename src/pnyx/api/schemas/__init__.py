"""Pydantic request and response bodies: the only place pydantic is used."""
