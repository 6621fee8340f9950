"""Both slurmrestd dialects as data: bodies built and records parsed, no server. The JSON shapes
are those the live 22.05 (v0.0.38) and 24.11 (v0.0.42) servers returned in test_slurm_engine.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pnyx.executors.slurm import SlurmConfig, build_request, engine_state
from pnyx.executors.slurm_api import (
    LegacyDialect,
    ModernDialect,
    SlurmJobRequest,
    dialect_for,
    newest_supported,
    parse_errors,
)
from pnyx.inventory.model import SafetyLevel
from pnyx.jobs.model import EngineRejected, EngineState, Grant
from tests.engines.conftest import make_spec

CONFIG = SlurmConfig(
    user="root", token="t", accounts={"prj-open": "public"}, working_directory="/w", log_directory="/logs"
)


def request(nodes: int = 2, per_node: int = 8, level: SafetyLevel = SafetyLevel.L1) -> SlurmJobRequest:
    spec = make_spec(("torchrun", "train.py"), nodes=nodes, per_node=per_node, level=level, time_limit_s=90)
    return build_request(spec, Grant(node_ids=("a", "b"), counts=(8, 8)), CONFIG)


def test_a_gang_maps_to_account_partition_nodes_and_gres() -> None:
    r = request()
    assert (r.account, r.partition, r.nodes, r.gpus_per_node, r.gres_type) == ("public", "open", 2, 8, "h100")
    assert r.time_limit_min == 2
    assert "srun --nodes=2 --ntasks-per-node=1 -- torchrun train.py" in r.script
    assert r.standard_output == "/logs/%j.out"
    assert request(level=SafetyLevel.L2).partition == "secure"


def test_the_two_dialects_write_different_bodies() -> None:
    legacy = LegacyDialect("v0.0.38").submit_body(request())
    modern = ModernDialect("v0.0.42").submit_body(request())

    assert legacy["job"]["gpus_per_node"] == "h100:8"
    assert legacy["job"]["environment"]["PNYX_GRANT_COUNTS"] == "8,8"
    assert "script" in legacy
    assert modern["job"]["tres_per_node"] == "gres/gpu:h100:8"
    assert "PNYX_GRANT_NODES=a,b" in modern["job"]["environment"]
    assert modern["job"]["time_limit"] == {"set": True, "infinite": False, "number": 2}
    assert modern["job"]["script"].startswith("#!/bin/bash")


def test_legacy_records_carry_a_raw_wait_status() -> None:
    job = LegacyDialect("v0.0.38").parse_job(
        {"job_id": 7, "name": "pnyx-k", "job_state": "FAILED", "exit_code": 768, "start_time": 1795611469}
    )
    assert (job.state, job.exit_code) == ("FAILED", 3)
    assert job.start == datetime.fromtimestamp(1795611469, UTC)


def test_modern_records_wrap_numbers_and_list_states() -> None:
    job = ModernDialect("v0.0.42").parse_job(
        {
            "job_id": 9,
            "name": "pnyx-k",
            "job_state": ["COMPLETED"],
            "exit_code": {
                "status": ["SUCCESS"],
                "return_code": {"set": True, "infinite": False, "number": 0},
            },
            "start_time": {"set": True, "infinite": False, "number": 1795611469},
            "end_time": {"set": False, "infinite": False, "number": 0},
            "node_count": {"set": True, "infinite": False, "number": 2},
        }
    )
    assert (job.state, job.exit_code, job.node_count, job.end) == ("COMPLETED", 0, 2, None)


def test_version_choice_errors_and_states() -> None:
    assert newest_supported(["v0.0.40", "v0.0.42", "v0.0.41"]) == "v0.0.42"
    assert newest_supported(["v0.0.36", "v0.0.37", "v0.0.38"]) == "v0.0.38"
    assert newest_supported(["v0.0.39"]) is None
    with pytest.raises(ValueError, match="unsupported"):
        dialect_for("v0.0.39")
    errors = parse_errors({"errors": [{"error_code": 2045, "error": "Invalid account"}]})
    assert errors[0].number == 2045
    assert engine_state("TIMEOUT") is EngineState.FAILED
    assert engine_state("WHATEVER") is EngineState.UNKNOWN


def test_image_only_jobs_are_refused() -> None:
    spec = make_spec(())
    with pytest.raises(EngineRejected, match="image"):
        build_request(spec, Grant(node_ids=("a",), counts=(1,)), CONFIG)
