"""Properties of the label lattice and clearance: the laws hold, labels never flow down."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pnyx.safety import rules
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, Readers, SafetyLevel

levels = st.sampled_from(list(SafetyLevel))
categories = st.frozensets(st.sampled_from(["bio", "cyber", "chem", "project:p1", "project:p2", "sme:p1"]))
labels = st.builds(Label, level=levels, categories=categories)


@given(labels, labels)
def test_join_is_commutative(a: Label, b: Label) -> None:
    assert rules.join(a, b) == rules.join(b, a)


@given(labels, labels, labels)
def test_join_is_associative(a: Label, b: Label, c: Label) -> None:
    assert rules.join(rules.join(a, b), c) == rules.join(a, rules.join(b, c))


@given(labels)
def test_join_is_idempotent(a: Label) -> None:
    assert rules.join(a, a) == a


@given(labels, labels)
def test_join_is_an_upper_bound(a: Label, b: Label) -> None:
    j = rules.join(a, b)
    assert rules.dominates(j, a)
    assert rules.dominates(j, b)


@given(labels, labels, labels)
def test_join_is_the_least_upper_bound(a: Label, b: Label, c: Label) -> None:
    if rules.dominates(c, a) and rules.dominates(c, b):
        assert rules.dominates(c, rules.join(a, b))


@given(labels)
def test_dominates_is_reflexive(a: Label) -> None:
    assert rules.dominates(a, a)


@given(labels, labels)
def test_dominates_is_antisymmetric(a: Label, b: Label) -> None:
    if rules.dominates(a, b) and rules.dominates(b, a):
        assert a == b


@given(labels, labels, labels)
def test_dominates_is_transitive(a: Label, b: Label, c: Label) -> None:
    if rules.dominates(a, b) and rules.dominates(b, c):
        assert rules.dominates(a, c)


@given(labels, st.lists(labels, max_size=6))
def test_outputs_dominate_every_input_and_the_project(project: Label, inputs: list[Label]) -> None:
    out = rules.output_label(project, inputs)
    assert rules.dominates(out, project)
    assert all(rules.dominates(out, i) for i in inputs)


@given(labels, st.lists(labels, max_size=6))
def test_join_all_is_the_floor_without_labels_and_order_free(floor: Label, inputs: list[Label]) -> None:
    assert rules.join_all([], floor) == floor
    assert rules.join_all(inputs, floor) == rules.join_all(reversed(inputs), floor)


@given(labels, labels, st.booleans())
def test_may_read_never_grants_above_clearance(clearance: Label, label: Label, human: bool) -> None:
    if rules.may_read(clearance, label, DEFAULT_POLICY, human=human):
        assert rules.dominates(clearance, label)


@given(labels, labels)
def test_humans_never_read_at_jobs_only_levels(clearance: Label, label: Label) -> None:
    jobs_only = DEFAULT_POLICY.of(label.level).readers is Readers.JOBS_ONLY
    human_may = rules.may_read(clearance, label, DEFAULT_POLICY, human=True)
    job_may = rules.may_read(clearance, label, DEFAULT_POLICY, human=False)
    assert not (jobs_only and human_may)
    assert job_may == rules.dominates(clearance, label)


@given(labels, st.lists(labels, max_size=6))
def test_an_output_is_not_readable_with_a_lower_clearance(project: Label, inputs: list[Label]) -> None:
    out = rules.output_label(project, inputs)
    for low in [project, *inputs]:
        if low != out:
            assert not rules.may_read(low, out, DEFAULT_POLICY, human=False)
