"""Both slurmrestd dialects as data: bodies built and records parsed, no server. The JSON shapes
are those the live 22.05 (v0.0.38) and 24.11 (v0.0.42) servers returned in test_slurm_engine.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from pnyx.executors.slurm import SlurmConfig, build_request, engine_state
from pnyx.executors.slurm_api import (
    LegacyDialect,
    ModernDialect,
    SlurmJobRequest,
    associations_of,
    dialect_for,
    newest_supported,
    parse_errors,
)
from pnyx.executors.slurm_jobs import SlurmJobs, listing_of
from pnyx.executors.slurm_rest import SlurmRest
from pnyx.jobs.model import EngineRejected, EngineState, Grant
from pnyx.safety.model import SafetyLevel
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


# --- issue 10: placement, exclusivity, accounts, and reading the engine as seldom as it allows ------


def test_the_placement_and_exclusivity_reach_both_dialects() -> None:
    placed = request(level=SafetyLevel.L2)
    assert (placed.node_list, placed.exclusive) == (("a", "b"), True)
    legacy = LegacyDialect("v0.0.38").submit_body(placed)["job"]
    modern = ModernDialect("v0.0.42").submit_body(placed)["job"]
    assert (legacy["nodelist"], legacy["exclusive"]) == ("a,b", "exclusive")
    assert (modern["required_nodes"], modern["shared"]) == ("a,b", ["none"])
    assert "exclusive" not in LegacyDialect("v0.0.38").submit_body(request())["job"]


def test_node_names_map_and_pinning_can_be_turned_off() -> None:
    spec = make_spec(("true",))
    grant = Grant(node_ids=("gpu-001",), counts=(1,))
    assert build_request(spec, grant, replace(CONFIG, node_names={"gpu-001": "n1"})).node_list == ("n1",)
    assert build_request(spec, grant, replace(CONFIG, pin_nodes=False)).node_list == ()


def test_a_job_placed_on_nodes_certified_above_it_goes_to_their_partition_never_below_its_own() -> None:
    spec = make_spec(("true",))  # L1
    on_secure = Grant(node_ids=("n3",), counts=(1,), certification=SafetyLevel.L3)
    assert build_request(spec, on_secure, CONFIG).partition == "secure"
    assert build_request(spec, Grant(node_ids=("n1",), counts=(1,)), CONFIG).partition == "open"
    l2, on_open = make_spec(("true",), level=SafetyLevel.L2), replace(on_secure, certification=SafetyLevel.L1)
    assert build_request(l2, on_open, CONFIG).partition == "secure"
    assert build_request(spec, on_secure, replace(CONFIG, pin_nodes=False)).partition == "open"  # Slurm picks
    assert build_request(spec, on_secure, CONFIG).account == "public"  # the project's (prj-open -> public)
    own = replace(CONFIG, partition_accounts={"secure": "secure"})
    assert (build_request(spec, on_secure, own).account, build_request(spec, on_open, own).account) == (
        "secure",
        "public",
    )


def test_accounts_are_created_in_each_dialects_way() -> None:
    legacy = LegacyDialect("v0.0.38").account_creation("prj", "c1", "Pnyx project prj")
    modern = ModernDialect("v0.0.42").account_creation("prj", "c1", "Pnyx project prj")
    assert (legacy.method, legacy.path) == ("POST", "/slurmdb/v0.0.38/accounts")
    assert legacy.body == {
        "accounts": [
            {
                "name": "prj",
                "description": "Pnyx project prj",
                "organization": "pnyx",
                "associations": [{"account": "prj", "cluster": "c1"}],
            }
        ]
    }
    assert modern.path == "/slurmdb/v0.0.42/accounts_association"
    assert modern.body == {
        "association_condition": {"accounts": ["prj"], "clusters": ["c1"]},
        "account": {"description": "Pnyx project prj", "organization": "pnyx"},
    }
    rows = {
        "associations": [{"account": "prj", "cluster": "c1", "user": None}, {"account": "x", "user": "u"}]
    }
    assert associations_of(rows, "prj") == {("c1", "")}


def test_a_listing_keeps_pnyx_jobs_and_says_when_nothing_changed() -> None:
    legacy = LegacyDialect("v0.0.38")
    raws = [
        {"job_id": 9, "name": "pnyx-k", "job_state": "RUNNING"},
        {"job_id": 7, "name": "pnyx-k", "job_state": "COMPLETED", "exit_code": 0},
        {"job_id": 8, "name": "someone-else", "job_state": "RUNNING"},
    ]
    listing = listing_of(raws, legacy, taken_at=1.0, update_time=100)
    assert (sorted(listing.jobs), listing.ids, listing.table_size) == ([7, 9], {"pnyx-k": 7}, 3)
    assert legacy.jobs_unchanged(304, {})
    assert not legacy.jobs_unchanged(200, {"jobs": []})
    modern = ModernDialect("v0.0.42")
    assert modern.jobs_unchanged(200, {"jobs": [], "warnings": [{"description": "No job changes since"}]})
    stamped = {"jobs": [], "last_update": {"set": True, "infinite": False, "number": 1795611469}}
    assert not modern.jobs_unchanged(200, stamped)
    assert modern.last_update(stamped) == 1795611469


class FakeSlurmrestd:
    """A stand-in for slurmrestd 22.05 (an httpx transport, marked FAKE): a job table, the requests."""

    def __init__(self, jobs: int) -> None:
        self.table = [
            {"job_id": i, "name": f"other-{i}", "job_state": "RUNNING"} for i in range(1000, 1000 + jobs)
        ]
        self.requests: list[str] = []
        self.changed = True

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query.decode()}".rstrip("?"))
        headers = {"X-Pnyx-Transport": "FAKE"}
        if request.url.path == "/slurm/v0.0.38/jobs":
            if "update_time" in request.url.params and not self.changed:
                return httpx.Response(304, headers=headers)
            self.changed = False
            return httpx.Response(200, json={"errors": [], "jobs": self.table}, headers=headers)
        job_id = int(request.url.path.rsplit("/", 1)[1])
        found = [j for j in self.table if j["job_id"] == job_id]
        return httpx.Response(200, json={"errors": [], "jobs": found}, headers=headers)


def fake_jobs(table: int) -> tuple[SlurmJobs, FakeSlurmrestd]:
    fake = FakeSlurmrestd(table)
    rest = SlurmRest(
        base_url="http://slurm.fake",
        user="u",
        token="t",
        timeout_s=1,
        api_version="v0.0.38",
        transport=httpx.MockTransport(fake.handle),
    )
    return SlurmJobs(rest, ttl_s=1.0, use_accounting=False), fake


def test_each_cycle_asks_what_changed_and_reuses_the_listing_when_nothing_did() -> None:
    jobs, fake = fake_jobs(3)
    jobs.begin_cycle()
    first = jobs.listing()
    assert jobs.listing() is first  # one listing a cycle
    jobs.begin_cycle()
    second = jobs.listing()
    assert second.jobs == first.jobs
    assert fake.requests[0] == "GET /slurm/v0.0.38/jobs"
    assert fake.requests[1].startswith("GET /slurm/v0.0.38/jobs?update_time=")
    assert len(fake.requests) == 2


def test_a_few_jobs_of_a_large_table_are_read_one_by_one_and_this_cycles_submissions_not_at_all() -> None:
    jobs, fake = fake_jobs(200)
    jobs.begin_cycle()
    jobs.listing()  # learns the table's size
    jobs.remember("k", 1000)
    jobs.begin_cycle()
    jobs.remember("new", 5000)  # submitted in this cycle
    fake.requests.clear()

    seen = jobs.seen([1001, 1002, 5000])

    assert fake.requests == ["GET /slurm/v0.0.38/job/1001", "GET /slurm/v0.0.38/job/1002"]
    assert sorted(seen.records) == [1001, 1002]
    assert seen.just_sent == {5000}
    assert jobs.known("k") == 1000  # from memory: no listing
    assert len(fake.requests) == 2
