"""The run's configuration, its hash, and what a resume compares."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace

import pytest

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import InvalidInput
from pnyx.training.checkpoint import CheckpointMeta, check_resumable
from pnyx.training.config import TrainConfig, config_from_json, config_hash

VERSION = "ab" * 32


def test_config_hash_is_sha256_of_canonical_json_without_run_length() -> None:
    config = TrainConfig()
    fields = asdict(config)
    del fields["steps"], fields["checkpoint_every"]
    assert config_hash(config) == hashlib.sha256(canonical_json(fields)).hexdigest()
    assert config_hash(replace(config, steps=999, checkpoint_every=7)) == config_hash(config)
    assert config_hash(replace(config, d_model=128)) != config_hash(config)
    assert config_hash(replace(config, lr=0.001)) != config_hash(config)


def test_json_overrides_the_defaults() -> None:
    config = config_from_json('{"d_model": 32, "lr": 1, "steps": 5}')
    assert (config.d_model, config.lr, config.steps, config.layers) == (32, 1.0, 5, TrainConfig().layers)
    assert isinstance(config.lr, float)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('{"depth": 3}', "depth", "unknown config field 'depth'"),
        ('{"d_model": 32.5}', "d_model", "must be an integer"),
        ('{"layers": true}', "layers", "must be a number"),
        ('{"lr": "fast"}', "lr", "must be a number"),
        ('{"heads": 5}', "heads", "multiple of heads"),
        ('{"vocab": 100}', "vocab", "at least 261"),
        ('{"steps": 0}', "steps", "must be positive"),
        ('{"lr": -1}', "lr", "lr must be positive"),
        ("[1, 2]", "config", "JSON object"),
        ("{nope", "config", "not JSON"),
    ],
)
def test_bad_overrides_name_the_field(text: str, field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        config_from_json(text)
    assert caught.value.field == field


def meta(
    config: TrainConfig, *, dataset: str = VERSION, world_size: int = 2, step: int = 4
) -> CheckpointMeta:
    return CheckpointMeta(
        step=step,
        config_hash=config_hash(config),
        dataset=dataset,
        seed=config.seed,
        world_size=world_size,
        config=asdict(config),
    )


def test_a_checkpoint_of_the_same_run_resumes_whatever_its_length() -> None:
    check_resumable(meta(TrainConfig(steps=4)), meta(TrainConfig(steps=8, checkpoint_every=2)), "step-000004")


@pytest.mark.parametrize(
    ("found", "field", "message"),
    [
        (meta(TrainConfig(), dataset="cd" * 32), "dataset", f"dataset = '{'cd' * 32}'"),
        (meta(TrainConfig(), world_size=4), "world_size", "world_size = 4, this run has world_size = 2"),
        (meta(TrainConfig(seed=1)), "seed", "seed = 1, this run has seed = 0"),
        (meta(TrainConfig(d_model=32)), "d_model", "d_model = 32, this run has d_model = 64"),
        (meta(TrainConfig(lr=0.5)), "lr", "lr = 0.5"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused_by_field(
    found: CheckpointMeta, field: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        check_resumable(found, meta(TrainConfig()), "step-000004")
    assert caught.value.field == field
    assert "cannot resume from step-000004" in caught.value.message


def test_a_checkpoint_whose_hash_alone_differs_is_refused() -> None:
    found = replace(meta(TrainConfig()), config_hash="00" * 32)
    with pytest.raises(InvalidInput) as caught:
        check_resumable(found, meta(TrainConfig()), "step-000004")
    assert caught.value.field == "config_hash"
