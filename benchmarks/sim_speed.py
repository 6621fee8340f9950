"""Simulation speed: simulated days per wall-clock minute, synthetic workload with failures.

python benchmarks/sim_speed.py                      # 100,000 accelerators, 30 days, full policy
python benchmarks/sim_speed.py --accelerators 10000 --days 3
python benchmarks/sim_speed.py --mix frontier --load 1.05   # 0.7% of jobs at 4,096+, runs up to 14 days
"""

from __future__ import annotations

import argparse
import json

from pnyx.sim.experiment import Study, run_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerators", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--policy", default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load", type=float, default=1.1)
    parser.add_argument("--mix", default="default", help="synthetic size mix: default or frontier")
    args = parser.parse_args()
    study = Study(
        trace="synthetic",
        accelerators=args.accelerators,
        policies=(args.policy,),
        days=args.days,
        seed=args.seed,
        load=args.load,
        mix=args.mix,
    )
    (result,) = run_study(study)
    m = result.metrics
    per_minute = args.days / (float(m["wall_s"]) / 60)
    print(json.dumps(m, indent=1))
    print(
        f"{args.accelerators:,} accelerators, {args.days:g} days, mix {args.mix}, policy {args.policy}: "
        f"wall {m['wall_s']:.1f} s, "
        f"{per_minute:.1f} simulated days per wall minute, {m['sim_events_per_s']:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
