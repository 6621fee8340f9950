"""Quality on one workload: the full policy against FIFO and FIFO with EASY backfill.

python benchmarks/sim_quality.py                          # 100,000 accelerators, 30 days
python benchmarks/sim_quality.py --accelerators 10000 --days 7
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
    args = parser.parse_args()
    study = Study(
        trace="synthetic", accelerators=args.accelerators, days=args.days, seed=args.seed, load=args.load
    )
    results = run_study(study)
    print(f"{args.accelerators:,} accelerators, {args.days:g} days, load {args.load}, seed {args.seed}")
    print(f"{'metric':<22}" + "".join(f"{r.policy:>16}" for r in results))
    for key in KEYS:
        print(f"{key:<22}" + "".join(f"{float(r.metrics[key]):>16,.4g}" for r in results))


if __name__ == "__main__":
    main()
