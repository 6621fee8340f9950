"""Kernel shared by every domain: ids, clock, units, errors, events, canonical JSON."""
