"""Quality on one workload: the full policy against FIFO and FIFO with EASY backfill.

python benchmarks/sim_quality.py                          # 100,000 accelerators, 30 days
python benchmarks/sim_quality.py --accelerators 10000 --days 7
python benchmarks/sim_quality.py --trace cluster_job_log --format philly --accelerators 2048 --days 90
python benchmarks/sim_quality.py --mix frontier --load 1.05
"""

from __future__ import annotations

import argparse

from pnyx.sim.experiment import Study, run_study

KEYS = ("utilization", "goodput", "jct_mean_s", "wait_mean_s", "share_deviation_max", "preemptions", "wall_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerators", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load", type=float, default=1.1)
    parser.add_argument("--mix", default="default", help="synthetic size mix: default or frontier")
    parser.add_argument("--trace", default="synthetic", help="a trace file instead of the synthetic workload")
    parser.add_argument("--format", default="csv", help="the trace's format: csv, philly, pai, helios")
    args = parser.parse_args()
    study = Study(
        trace=args.trace,
        trace_format=args.format,
        accelerators=args.accelerators,
        days=args.days,
        seed=args.seed,
        load=args.load,
        mix=args.mix,
    )
    results = run_study(study)
    synthetic = args.trace == "synthetic"
    workload = f"mix {args.mix}, load {args.load}" if synthetic else f"{args.format} {args.trace}"
    print(f"{args.accelerators:,} accelerators, {args.days:g} days, {workload}, seed {args.seed}")
    print(f"{'metric':<22}" + "".join(f"{r.policy:>16}" for r in results))
    for key in KEYS:
        print(f"{key:<22}" + "".join(f"{float(r.metrics[key]):>16,.4g}" for r in results))


if __name__ == "__main__":
    main()
