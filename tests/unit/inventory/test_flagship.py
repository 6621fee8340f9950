"""The generated 100,000-accelerator facility has a flagship: one site's single-type pool holds the
mission's largest gang (16,384), never certified above L2; a gang that fits nowhere is still refused
with its reason."""

from __future__ import annotations

import pytest

from pnyx.inventory.rules import FLAGSHIP, FLAGSHIP_ACCELERATORS, LARGEST_GANG, generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.model import Job, JobDoesNotFit
from pnyx.scheduler.topology import build_topology


def _gang(accelerators: int, kind: str | None, label: SafetyLevel = SafetyLevel.L1) -> Job:
    return Job(
        id="pretrain", accelerators=accelerators, estimate_s=86_400.0, accelerator_type=kind, label=label
    )


def test_one_site_holds_the_largest_gang_of_one_type() -> None:
    facility = generate_facility(100_000, seed=0)
    site, kind = FLAGSHIP
    pool = [n for n in facility.nodes if n.site_id == site and n.accelerator_type == kind]
    assert sum(n.accelerators for n in pool) == FLAGSHIP_ACCELERATORS >= LARGEST_GANG
    assert {n.safety_level for n in pool} == {SafetyLevel.L2}  # one pool: none certified away
    topology = build_topology(facility)
    check_fits(_gang(LARGEST_GANG, kind, SafetyLevel.L2), topology)  # fits, without crossing sites
    check_fits(_gang(LARGEST_GANG, None), topology)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_flagship_does_not_depend_on_the_seed(seed: int) -> None:
    check_fits(_gang(LARGEST_GANG, FLAGSHIP[1]), build_topology(generate_facility(100_000, seed=seed)))


def test_a_gang_that_fits_nowhere_is_refused_with_its_reason() -> None:
    topology = build_topology(generate_facility(100_000, seed=0))
    with pytest.raises(JobDoesNotFit) as h100:
        check_fits(_gang(LARGEST_GANG, "H100-SXM"), topology)
    assert h100.value.code == "job_too_large"
    assert "the largest gang its type, label and site constraint allow is 8192" in h100.value.message
    assert "it fits if allowed to cross sites" in h100.value.message
    assert h100.value.remedy == "allow_cross_site"
    with pytest.raises(JobDoesNotFit, match="is 17280"):
        check_fits(_gang(FLAGSHIP_ACCELERATORS + 4, FLAGSHIP[1]), topology)


def test_a_small_facility_keeps_its_plain_mix() -> None:
    facility = generate_facility(10_000, seed=0)
    site, kind = FLAGSHIP
    pool = sum(n.accelerators for n in facility.nodes if n.site_id == site and n.accelerator_type == kind)
    assert pool < LARGEST_GANG  # no site of a small facility has room: nothing moves
    assert pool == 1_320  # its plain share: 22% of the facility, 60% of the site
