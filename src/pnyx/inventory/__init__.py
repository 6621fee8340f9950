"""The facility's hardware as data: sites, islands, racks, nodes, accelerators and topology."""
