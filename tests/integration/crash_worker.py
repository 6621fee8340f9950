"""Worker for the crash test: registers users and appends to the log, for ever, until killed.

Run as ``python crash_worker.py``, with PNYX_DATABASE_URL and PNYX_LOG_KEY_FILE set.
"""

from __future__ import annotations

import itertools
import os
import random

from pnyx.settings import Settings
from pnyx.wiring import build_platform


def main() -> None:
    platform = build_platform(Settings.from_env())
    print("ready", flush=True)  # the test kills it at random moments from here on, not while it imports
    rng = random.Random(os.getpid())
    for round_ in itertools.count():
        for i in range(rng.randint(5, 60)):
            platform.identity.register_user(name=f"w{os.getpid()}r{round_}u{i}", roles=["researcher"])
        platform.log.append_pending(batch=rng.randint(1, 80))


if __name__ == "__main__":
    main()
