"""Pure scheduler: one cycle is a pipeline over an immutable snapshot; time arrives as ``now``."""
