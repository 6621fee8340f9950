"""The Slurm executor against a real local Slurm (22.05 from scripts/engines/up.sh; 24.11 with
PNYX_SLURM_2411=1). Every test here talks to slurmrestd; none uses a fake."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pnyx.dispatch.handover import CycleListing, NewSubmission
from pnyx.executors.slurm import SlurmConfig, SlurmExecutor, job_name
from pnyx.executors.slurm_accounts import AccountSetup
from pnyx.executors.slurm_api import SUPPORTED_VERSIONS, jobs_by_id
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineRef, EngineRejected, EngineState, Grant, JobSpec
from pnyx.safety.model import SafetyLevel
from tests.engines.conftest import final, grant_for, make_spec, running_or_final, status_of, wait_for
from tests.engines.counting import CountingTransport

pytestmark = [pytest.mark.engines, pytest.mark.slow, pytest.mark.xdist_group("slurm")]


def secure_grant(spec: JobSpec) -> Grant:
    """Nodes of the test cluster's partition "secure" (n3, n4), where L2+ jobs go."""
    return Grant(
        node_ids=tuple(f"n{3 + i}" for i in range(spec.nodes)),
        counts=(spec.accelerators_per_node,) * spec.nodes,
    )


def test_it_is_an_executor(slurm: SlurmExecutor) -> None:
    executor: Executor = slurm
    assert executor.engine == "slurm"
    assert isinstance(slurm, CycleListing)  # one listing per dispatch cycle, batched lookups
    assert isinstance(slurm, NewSubmission)  # the dispatcher's fresh decisions skip the lookup


def test_speaks_the_newest_api_the_server_offers(slurm: SlurmExecutor) -> None:
    assert slurm.dialect().version in SUPPORTED_VERSIONS


def test_submit_runs_to_completion_with_gpus_and_logs(slurm: SlurmExecutor) -> None:
    spec = make_spec(("bash", "-c", 'echo "hello $PNYX_JOB_ID gpus=$CUDA_VISIBLE_DEVICES"'), per_node=8)
    ref = slurm.submit(spec, grant_for(spec))

    status = wait_for(status_of(slurm, ref), final)

    assert status.state is EngineState.SUCCEEDED, status
    assert status.exit_code == 0
    assert status.started_at is not None
    assert status.ended_at is not None
    assert f"hello {spec.job_id} gpus=0,1,2,3,4,5,6,7" in slurm.logs(ref)


def test_submit_is_idempotent_on_the_key(slurm: SlurmExecutor) -> None:
    spec = make_spec(("sleep", "2"))
    first = slurm.submit(spec, grant_for(spec))
    second = slurm.submit(spec, grant_for(spec))

    assert second == first
    assert [j.job_id for j in slurm.controller_jobs() if j.name == job_name(spec.idempotency_key)] == [
        int(first.engine_job_id)
    ]


def test_a_failing_command_reports_failed_with_its_exit_code(slurm: SlurmExecutor) -> None:
    spec = make_spec(("bash", "-c", "echo about to fail; exit 3"))
    ref = slurm.submit(spec, grant_for(spec))

    status = wait_for(status_of(slurm, ref), final)

    assert status.state is EngineState.FAILED
    assert status.exit_code == 3
    assert "about to fail" in slurm.logs(ref)


def test_multi_node_gang_runs_on_two_nodes_with_eight_gpus_each(slurm: SlurmExecutor) -> None:
    spec = make_spec(
        ("bash", "-c", 'echo "rank on $SLURMD_NODENAME gpus=$CUDA_VISIBLE_DEVICES"'), nodes=2, per_node=8
    )
    ref = slurm.submit(spec, grant_for(spec))

    status = wait_for(status_of(slurm, ref), final)

    assert status.state is EngineState.SUCCEEDED, status
    (job,) = [j for j in slurm.controller_jobs() if j.job_id == int(ref.engine_job_id)]
    assert job.node_count == 2
    lines = sorted(line for line in slurm.logs(ref).splitlines() if line.startswith("rank on"))
    assert len(lines) == 2
    assert all(line.endswith("gpus=0,1,2,3,4,5,6,7") for line in lines)
    assert len({line.split()[2] for line in lines}) == 2  # two distinct nodes


def test_cancel_stops_a_running_job_and_is_a_no_op_after(slurm: SlurmExecutor) -> None:
    spec = make_spec(("sleep", "300"))
    ref = slurm.submit(spec, grant_for(spec))
    wait_for(status_of(slurm, ref), running_or_final)

    slurm.cancel(ref)
    status = wait_for(status_of(slurm, ref), final)
    slurm.cancel(ref)

    assert status.state is EngineState.CANCELLED


def test_wrong_account_on_the_secure_partition_is_rejected(slurm: SlurmExecutor) -> None:
    # an L2 job goes to partition "secure", which only account "secure" may use
    spec = make_spec(("true",), project="prj-open", level=SafetyLevel.L2)

    with pytest.raises(EngineRejected, match="account"):
        slurm.submit(spec, secure_grant(spec))
    assert slurm.find(spec.idempotency_key) is None


def test_the_right_account_runs_on_the_secure_partition(slurm: SlurmExecutor) -> None:
    spec = make_spec(
        ("bash", "-c", 'echo "on $SLURMD_NODENAME gpus=$CUDA_VISIBLE_DEVICES"'),
        project="prj-secure",
        level=SafetyLevel.L3,
    )
    ref = slurm.submit(spec, secure_grant(spec))

    assert wait_for(status_of(slurm, ref), final).state is EngineState.SUCCEEDED
    # L2 and above run exclusive: the whole node is the job's, all eight GPUs though it asked one
    assert "on n3 gpus=0,1,2,3,4,5,6,7" in slurm.logs(ref)


def test_a_fresh_executor_reconciles_after_the_dispatcher_restarts(slurm_config: SlurmConfig) -> None:
    spec = make_spec(("sleep", "3"))
    before = SlurmExecutor(slurm_config)
    ref = before.submit(spec, grant_for(spec))
    before.close()  # the dispatcher dies here, with the ref maybe never persisted

    after = SlurmExecutor(slurm_config)
    try:
        found = after.find(spec.idempotency_key)
        assert found == ref
        assert after.status([ref])[0].state in {EngineState.QUEUED, EngineState.RUNNING}
        assert after.submit(spec, grant_for(spec)) == ref  # nothing started twice
        assert wait_for(status_of(after, ref), final).state is EngineState.SUCCEEDED
        names = [j for j in after.controller_jobs() if j.name == job_name(spec.idempotency_key)]
        assert len(names) == 1
    finally:
        after.close()


def test_accounting_knows_the_job_for_after_the_controller_purges_it(slurm: SlurmExecutor) -> None:
    spec = make_spec(("true",))
    ref = slurm.submit(spec, grant_for(spec))
    wait_for(status_of(slurm, ref), final)

    # accounting lags the controller by a second or two: poll
    def recorded() -> list[int]:
        return [j.job_id for j in slurm.accounting_jobs(name=job_name(spec.idempotency_key))]

    assert wait_for(recorded, bool, timeout_s=30) == [int(ref.engine_job_id)]


def test_unknown_jobs_and_keys(slurm: SlurmExecutor) -> None:
    ref = EngineRef(engine="slurm", engine_job_id="987654321")

    assert slurm.status([ref])[0].state is EngineState.UNKNOWN
    assert slurm.find("no-such-key-ever") is None
    slurm.cancel(ref)  # a no-op


# --- the placement Pnyx decided is what Slurm runs --------------------------------------------------


def test_a_job_runs_on_the_node_pnyx_placed_it_on(slurm: SlurmExecutor) -> None:
    spec = make_spec(("bash", "-c", 'echo "on $SLURMD_NODENAME"'))
    ref = slurm.submit(spec, Grant(node_ids=("n2",), counts=(1,)))

    assert wait_for(status_of(slurm, ref), final).state is EngineState.SUCCEEDED
    assert "on n2" in slurm.logs(ref)
    (job,) = [j for j in slurm.controller_jobs() if j.job_id == int(ref.engine_job_id)]
    assert job.nodes == "n2"


def test_a_placement_on_a_node_slurm_lacks_is_refused(slurm: SlurmExecutor) -> None:
    spec = make_spec(("true",))
    with pytest.raises(EngineRejected, match="node"):
        slurm.submit(spec, Grant(node_ids=("no-such-node",), counts=(1,)))


# --- one listing per cycle; accounting only for what the controller no longer holds -------------


@pytest.fixture
def counted(slurm_config: SlurmConfig) -> Iterator[tuple[SlurmExecutor, CountingTransport]]:
    transport = CountingTransport()
    executor = SlurmExecutor(slurm_config, transport=transport)
    executor.ensure_account("prj-open")  # the API version and the account: once per executor
    transport.calls.clear()
    yield executor, transport
    executor.close()


def test_a_cycle_lists_the_controller_once_and_asks_accounting_nothing(
    counted: tuple[SlurmExecutor, CountingTransport],
) -> None:
    slurm, transport = counted
    slurm.begin_cycle()
    specs = [make_spec(("sleep", "1")) for _ in range(5)]
    refs = [slurm.submit(s, grant_for(s)) for s in specs]
    assert slurm.submit(specs[0], grant_for(specs[0])) == refs[0]  # idempotent, from memory
    assert slurm.find_many([s.idempotency_key for s in specs]) == {
        s.idempotency_key: r for s, r in zip(specs, refs, strict=True)
    }
    assert {s.state for s in slurm.status(refs)} == {EngineState.QUEUED}  # not listed yet: queued

    assert transport.count("GET", "/jobs") == 1
    assert transport.count("POST", "/job/submit") == 5
    assert transport.accounting() == 0

    cycles = 0

    def next_cycle() -> list[EngineState]:
        nonlocal cycles
        cycles += 1
        slurm.begin_cycle()
        return [s.state for s in slurm.status(refs)]

    assert wait_for(next_cycle, lambda states: set(states) == {EngineState.SUCCEEDED}, timeout_s=60)
    listings = transport.count("GET", "/jobs")
    singles = sum(1 for m, path in transport.calls if m == "GET" and "/job/" in path)
    assert listings <= 1 + cycles  # at most one listing a cycle ...
    assert listings + singles > 1  # ... or, for 5 jobs of a large table, cheaper reads one by one
    assert transport.accounting() == 0


def test_a_fresh_executor_finds_earlier_keys_with_one_accounting_query(
    slurm: SlurmExecutor, slurm_config: SlurmConfig
) -> None:
    spec = make_spec(("true",))
    ref = slurm.submit(spec, grant_for(spec))
    transport = CountingTransport()
    fresh = SlurmExecutor(slurm_config, transport=transport)
    try:
        fresh.begin_cycle()
        keys = [spec.idempotency_key, "never-submitted-1", "never-submitted-2"]
        assert fresh.find_many(keys) == {spec.idempotency_key: ref}
        assert fresh.find(spec.idempotency_key) == ref
    finally:
        fresh.close()
    assert transport.count("GET", "/jobs") == 2  # the controller's listing, then accounting for the two
    assert transport.accounting() == 1


def test_accounting_answers_for_several_job_ids_at_once(slurm: SlurmExecutor) -> None:
    specs = [make_spec(("true",)) for _ in range(2)]
    refs = [slurm.submit(s, grant_for(s)) for s in specs]
    for ref in refs:
        wait_for(status_of(slurm, ref), final)
    ids = sorted(int(r.engine_job_id) for r in refs)

    def recorded() -> list[int]:
        return sorted(j.job_id for j in slurm.jobs.accounting(jobs_by_id(slurm.dialect().version, ids)))

    assert wait_for(recorded, lambda found: found == ids, timeout_s=30) == ids


# --- accounts: checked once, created when told to, a clear reason otherwise ---------------------


def test_a_project_without_a_slurm_account_is_refused_with_a_clear_reason(
    slurm_config: SlurmConfig,
) -> None:
    transport = CountingTransport()
    missing = f"nosuch{uuid.uuid4().hex[:8]}"
    executor = SlurmExecutor(replace(slurm_config, accounts={"prj-x": missing}), transport=transport)
    spec = make_spec(("true",), project="prj-x")
    try:
        with pytest.raises(EngineRejected, match=f"project prj-x has no Slurm account: '{missing}'"):
            executor.submit(spec, grant_for(spec))
        with pytest.raises(EngineRejected, match="has no Slurm account"):  # remembered: not asked again
            executor.submit(make_spec(("true",), project="prj-x"), grant_for(spec))
    finally:
        executor.close()
    assert transport.count("POST", "/job/submit") == 0
    assert transport.count("GET", "/associations") == 1


def test_missing_accounts_are_created_when_the_deployer_says_so(slurm_config: SlurmConfig) -> None:
    account = f"pnyxt{uuid.uuid4().hex[:8]}"
    config = replace(slurm_config, accounts={"prj-new": account}, account_setup=AccountSetup.CREATE)
    executor = SlurmExecutor(config)
    spec = make_spec(("true",), project="prj-new")
    try:
        ref = executor.submit(spec, grant_for(spec))
        assert wait_for(status_of(executor, ref), final).state is EngineState.SUCCEEDED
        assert executor.ensure_account("prj-new") == account  # cached: no second creation
    finally:
        version = executor.dialect().version
        executor._rest.call(
            "DELETE",
            f"/slurmdb/{version}/association",
            params={"account": account, "user": "root", "cluster": "infratest"},
        )
        executor._rest.call("DELETE", f"/slurmdb/{version}/account/{account}")
        executor.close()
