"""The reference training recipe (the optional ``[train]`` extra: torch, numpy, safetensors).

A small decoder over bytes, image patches and audio frames, trained with FSDP2 under ``torchrun``
(``python -m pnyx.training.run``), checkpointed with torch Distributed Checkpoint, reading a dataset
version by the registry's pure data order and leaving what the registry needs to record a model
version with its provenance; and the evaluation harness (``python -m pnyx.training.evaluate``)
that scores a model version on an evaluation set. See docs/training.md.
"""
