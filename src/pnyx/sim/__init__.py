"""The digital twin: a discrete-event simulator that drives the real scheduler with a virtual clock."""
