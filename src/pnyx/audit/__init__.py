"""Scheduling made checkable from the public log alone: decision records and their replay (pure)."""
