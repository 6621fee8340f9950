"""Proof and tile serving latency (p50/p99) at 1,000,000 entries, in-process and over HTTP.

Builds a log of --entries entries (batched appends), then times random inclusion proofs,
consistency proofs and hash tiles: through the service (one database query each) and through
the real HTTP stack (uvicorn on loopback, one keep-alive client). Goal: p99 < 5 ms at 1M entries.
"""

from __future__ import annotations

import argparse
import random
import socket
import threading
import time

import httpx
import uvicorn

from benchmarks.common import fill_outbox, fresh_platform, percentiles
from pnyx.server import create_app
from pnyx.wiring import Platform


def build_log(platform: Platform, entries: int) -> float:
    start = time.perf_counter()
    for first in range(0, entries, 100_000):
        fill_outbox(platform, min(100_000, entries - first))
        platform.log.drain(batch=10_000)
        print(f"  built {platform.log.size():,} entries", flush=True)
    return time.perf_counter() - start


def time_calls(label: str, calls: int, fn: object) -> None:
    assert callable(fn)
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    p50, p99 = percentiles(samples)
    print(f"{label:<44} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(1)
    with fresh_platform(args.backend) as platform:
        print(f"building a {args.entries:,}-entry log on {args.backend}…", flush=True)
        built = build_log(platform, args.entries)
        n = platform.log.size()
        print(f"built in {built:.1f} s ({n / built:,.0f} entries/s including outbox fill)")
        log = platform.log
        time_calls(
            "service: inclusion proof (latest size)",
            args.calls,
            lambda: log.inclusion_proof(rng.randrange(n)),
        )
        time_calls(
            "service: consistency proof (random -> latest)",
            args.calls,
            lambda: log.consistency_proof(rng.randrange(1, n)),
        )
        time_calls(
            "service: level-0 hash tile", args.calls, lambda: log.tile(f"0/{_index(rng.randrange(n // 256))}")
        )

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(platform, run_appender=False, run_dispatcher=False),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            time_calls(
                "HTTP: GET /api/v1/log/proofs/inclusion/<i>",
                args.calls,
                lambda: client.get(f"/api/v1/log/proofs/inclusion/{rng.randrange(n)}").raise_for_status(),
            )
            time_calls(
                "HTTP: GET /log/tile/0/<N>",
                args.calls,
                lambda: client.get(f"/log/tile/0/{_index(rng.randrange(n // 256))}").raise_for_status(),
            )
            time_calls(
                "HTTP: GET /log/checkpoint",
                args.calls,
                lambda: client.get("/log/checkpoint").raise_for_status(),
            )
        server.should_exit = True
        thread.join()


def _index(n: int) -> str:
    from pnyx.transparency.tiles import format_index

    return format_index(n)


if __name__ == "__main__":
    main()
