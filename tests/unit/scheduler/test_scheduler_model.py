from __future__ import annotations

import pytest

from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.model import Job, JobDoesNotFit
from pnyx.scheduler.topology import Topology


@pytest.mark.parametrize(
    ("job", "code", "field"),
    [
        (Job(id="big", accelerators=10_000, estimate_s=60), "job_too_large", "accelerators"),
        (
            Job(id="tpu", accelerators=8, estimate_s=60, accelerator_type="TPUv5"),
            "accelerator_type_unknown",
            "accelerator_type",
        ),
        (Job(id="zero", accelerators=0, estimate_s=60), "job_invalid", "accelerators"),
    ],
)
def test_jobs_that_can_never_fit_are_rejected_with_a_reason(
    job: Job, code: str, field: str, topology: Topology
) -> None:
    with pytest.raises(JobDoesNotFit) as err:
        check_fits(job, topology)
    assert (err.value.code, err.value.field) == (code, field)
    assert job.id in err.value.message


def test_a_label_no_partition_holds_is_rejected(topology: Topology) -> None:
    levels = {p.level for p in topology.pools}
    kind = next(p.accelerator_type for p in topology.pools if p.level == min(levels))
    top = max(p.level for p in topology.pools if p.accelerator_type == kind)
    if top == SafetyLevel.L4:
        pytest.skip("every level is held for this type")
    job = Job(id="l4", accelerators=1, estimate_s=60, accelerator_type=kind, label=SafetyLevel(top + 1))
    with pytest.raises(JobDoesNotFit) as err:
        check_fits(job, topology)
    assert err.value.code == "label_unsupported"


def test_cross_site_lifts_the_size_limit(topology_4096: Topology) -> None:
    with pytest.raises(JobDoesNotFit):
        check_fits(Job(id="x", accelerators=1024, estimate_s=60), topology_4096)
    check_fits(Job(id="x", accelerators=1024, estimate_s=60, allow_cross_site=True), topology_4096)
