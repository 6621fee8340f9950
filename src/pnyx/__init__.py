"""Pnyx: the operating platform of a publicly funded, internationally governed AI supercomputer."""

__version__ = "0.1.0"
