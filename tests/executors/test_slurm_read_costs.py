"""How the Slurm executor chooses between one listing and single reads: by what each cost here."""

from __future__ import annotations

import pytest

from pnyx.executors.slurm_jobs import COST_SMOOTHING, EXPLORE_FACTOR, SINGLE_READ_ROWS, ReadCosts


def test_until_single_reads_were_timed_one_counts_as_a_fixed_number_of_records() -> None:
    costs = ReadCosts()
    assert costs.singles_cheaper(2, 2 * SINGLE_READ_ROWS + 1)
    assert not costs.singles_cheaper(2, 2 * SINGLE_READ_ROWS)
    costs.listed(0.07, 700)  # only the listing timed: still the fixed ratio
    assert costs.singles_cheaper(2, 2 * SINGLE_READ_ROWS + 1)


def test_single_reads_timed_and_a_listing_never_a_listing_is_taken_to_time_it() -> None:
    costs = ReadCosts()
    costs.read_alone(0.005, 1)  # a listing might be cheaper still: it was never tried
    rows = 30 * SINGLE_READ_ROWS * EXPLORE_FACTOR
    assert not costs.singles_cheaper(30, rows)  # 30 jobs: the fixed ratio would read them singly
    assert costs.singles_cheaper(29, rows)  # a listing that may cost more than 4x: not to learn
    costs.listed(0.1, 1_000)  # 0.1 ms a record: now compared
    assert not costs.singles_cheaper(30, 1_000)
    assert costs.singles_cheaper(19, 1_000)


def test_a_loaded_engine_whose_single_reads_are_slow_is_listed_instead() -> None:
    costs = ReadCosts()
    costs.listed(0.07, 700)  # 0.1 ms a record
    costs.read_alone(0.24, 20)  # 12 ms a job: 120 records' worth
    assert not costs.singles_cheaper(32, 700)  # the fixed ratio would have read 32 jobs one by one
    assert costs.singles_cheaper(5, 700)


def test_costs_follow_the_engine_as_a_moving_average() -> None:
    costs = ReadCosts()
    costs.read_alone(0.010, 1)
    costs.read_alone(0.020, 1)
    assert costs.single_s == pytest.approx(0.010 + COST_SMOOTHING * 0.010)
    costs.listed(1.0, 0)  # an empty listing says nothing about a record's cost
    costs.read_alone(1.0, 0)
    assert costs.row_s is None
    assert costs.single_s == pytest.approx(0.012)
