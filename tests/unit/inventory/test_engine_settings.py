"""The engines file (PNYX_ENGINES_FILE) and the environment reach each executor's own settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.executors.engine_settings import load_engine_sections, safety_level
from pnyx.executors.ray_settings import RaySettings
from pnyx.executors.slurm_settings import SlurmSettings, gres_types, partitions_by_level
from pnyx.safety.model import SafetyLevel
from pnyx.settings import Settings

EXAMPLES = Path(__file__).parents[3] / "examples" / "engines"
SLURM = {"url": "http://slurm:6820", "working_directory": "/w", "log_directory": "/l"}


def write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "engines.toml"
    path.write_text(text)
    return {"PNYX_ENGINES_FILE": str(path)}


def test_the_examples_configure_their_executors(tmp_path: Path) -> None:
    env = {"PNYX_DATA_DIR": str(tmp_path), "PNYX_ENGINES_FILE": str(EXAMPLES / "slurm.toml")}
    slurm = SlurmSettings.from_section(Settings.from_env({**env, "PNYX_SLURM_TOKEN": "jwt"}).engines["slurm"])
    assert (slurm.config.base_url, slurm.config.user, slurm.config.token) == (
        "http://127.0.0.1:6820",
        "root",
        "jwt",
    )
    assert slurm.config.account_for("any-project") == "public"  # fixed_account
    assert slurm.config.gres_type_for("H100-SXM") == "h100"
    assert dict(slurm.config.partitions) == {
        SafetyLevel.L1: "open",
        SafetyLevel.L2: "secure",
        SafetyLevel.L3: "secure",
    }
    assert slurm.mapped_types() == {"H100-SXM"}
    assert slurm.site().member_state == "DE"
    ray_env = {"PNYX_DATA_DIR": str(tmp_path), "PNYX_ENGINES_FILE": str(EXAMPLES / "ray.toml")}
    ray = RaySettings.from_section(Settings.from_env(ray_env).engines["ray"])
    assert (ray.config.accelerator_resource, ray.config.max_safety_level) == ("accelerator", SafetyLevel.L1)
    assert ray.mapped_types() == {"H100-SXM"}


def test_the_environment_wins_and_alone_configures_an_engine(tmp_path: Path) -> None:
    env = write(tmp_path, '[slurm]\nurl = "http://file:6820"\nuser = "pnyx"\n')
    sections = load_engine_sections({**env, "PNYX_SLURM_URL": "http://env:6820", "PNYX_SLURM_TOKEN": "t"})
    assert sections == {"slurm": {"url": "http://env:6820", "user": "pnyx", "token": "t"}}
    assert load_engine_sections({"PNYX_RAY_URL": "http://ray:8265"}) == {"ray": {"url": "http://ray:8265"}}
    # a token alone configures nothing: no [slurm] section, no Slurm executor
    assert load_engine_sections({"PNYX_SLURM_TOKEN": "t"}) == {}


def test_defaults_fill_only_configured_engines() -> None:
    defaults = {"slurm": {"working_directory": "/d"}}
    assert load_engine_sections({}, defaults) == {}
    assert load_engine_sections({"PNYX_SLURM_URL": "u"}, defaults) == {
        "slurm": {"url": "u", "working_directory": "/d"}
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[slurm\n", "is not valid TOML"),
        ("[lsf]\nurl = 'x'\n", r"unknown sections \['lsf'\]"),
        ("slurm = 3\n", r"must be a table \(a slurm section\)"),
        ("[slurm]\ntoken = 'secret'\n", r"slurm.token does not belong in .*: set PNYX_SLURM_TOKEN "
         r"or slurm.token_file"),
    ],
)  # fmt: skip
def test_a_bad_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_engine_sections(write(tmp_path, text))


def test_a_missing_file_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"PNYX_ENGINES_FILE /nowhere\.toml cannot be read"):
        load_engine_sections({"PNYX_ENGINES_FILE": "/nowhere.toml"})


def test_queue_depth_is_the_slurm_setting_and_one_layer_without_pinned_nodes() -> None:
    assert SlurmSettings.from_section(SLURM).ahead_depth() == 4  # the default (benchmarks/README.md)
    assert SlurmSettings.from_section({**SLURM, "queue_depth": 2}).ahead_depth() == 2
    assert SlurmSettings.from_section({**SLURM, "queue_depth": 2, "pin_nodes": False}).ahead_depth() == 1


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"gress": {}}, r"the slurm section has unknown settings \['gress'\]"),
        ({"url": ""}, r"slurm.url \(or PNYX_SLURM_URL\) must be set"),
        ({"gres": {"gpu:h100": "TPU"}}, r"slurm.gres.gpu:h100: unknown accelerator type 'TPU'"),
        ({"gres": {"gpu h100": "H100-SXM"}}, "must be NAME or NAME:TYPE"),
        ({"partitions": {"open": 5}}, "slurm.partitions.open must be a safety level"),
        ({"fixed_account": "a", "accounts": {"p": "b"}}, "exclude each other"),
        ({"timeout_s": -1}, "slurm.timeout_s must be a positive number"),
        ({"use_accounting": "yes"}, "slurm.use_accounting must be true or false"),
        ({"gres": {"gpu:h100": "H100-SXM", "gpu": "H100-SXM"}}, "maps both untyped and h100 gres"),
        ({"token_file": "/nowhere"}, "slurm.token_file /nowhere cannot be read"),
        ({"queue_depth": 0}, "slurm.queue_depth must be a positive whole number, got 0"),
        ({"queue_depth": 2.5}, "slurm.queue_depth must be a positive whole number"),
        ({"partition_accounts": {"secure": 3}}, "slurm.partition_accounts.secure"),
    ],
)  # fmt: skip
def test_bad_slurm_settings_name_the_setting(section: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SlurmSettings.from_section({**SLURM, **section})


def test_the_token_file(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text("SLURM_JWT=abc.def\n")
    assert (
        SlurmSettings.from_section({**SLURM, "token_file": str(tmp_path / "jwt")}).config.token == "abc.def"
    )


def test_each_level_gets_the_least_certified_partition_high_enough() -> None:
    levels = {"open": SafetyLevel.L1, "restricted": SafetyLevel.L2, "enclave": SafetyLevel.L4}
    assert partitions_by_level(levels) == {
        SafetyLevel.L1: "open",
        SafetyLevel.L2: "restricted",
        SafetyLevel.L3: "enclave",
        SafetyLevel.L4: "enclave",
    }
    assert partitions_by_level({"open": SafetyLevel.L1}) == {SafetyLevel.L1: "open"}  # L2+: refused


def test_gres_types_for_the_executor() -> None:
    assert gres_types({"gpu:h100": "H100-SXM", "gpu": "H200"}) == {"H100-SXM": "h100", "H200": ""}


@pytest.mark.parametrize(
    ("value", "level"),
    [(1, SafetyLevel.L1), ("L3", SafetyLevel.L3), ("l2", SafetyLevel.L2), ("4", SafetyLevel.L4)],
)
def test_safety_levels_are_spelled_either_way(value: object, level: SafetyLevel) -> None:
    assert safety_level(value, "x") is level


@pytest.mark.parametrize("value", [0, 5, "L5", True, 1.5, "high"])
def test_other_levels_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="must be a safety level"):
        safety_level(value, "x")


def test_the_site_needs_its_member_state() -> None:
    with pytest.raises(InvalidInput, match=r"slurm\.site\.member_state must be the ISO 3166-1 alpha-2 code"):
        SlurmSettings.from_section(SLURM).site()
    with pytest.raises(InvalidInput, match=r"slurm\.site\.id must be"):
        SlurmSettings.from_section({**SLURM, "site": {"id": "Big Site", "member_state": "DE"}}).site()
