"""The standalone auditor's command line (``pnyx audit bundle`` makes it the zipapp's ``__main__``).

``python3 -I -S pnyx-audit.pyz URL|DIR --key KEY [--witness W]... [--min-witnesses K]
[--scheduler V]... [--window SECONDS] [--max-share-gap POINTS]``: the arguments, output
(``summary_lines``, shared) and exit codes of ``pnyx audit replay``, with the standard library
alone (argparse, urllib): it verifies the log (``transparency.monitor.audit``), replays every decision
record (``audit.replay``) and prints what differs, with progress on stderr.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pnyx.audit.entries import DirectoryTiles, Tiles, log_entries
from pnyx.audit.replay import CYCLE, ReplayReport, replay
from pnyx.audit.version import scheduler_version
from pnyx.core.errors import EXIT_CODES, FacilityError, InvalidInput, Unavailable
from pnyx.scheduler.fairshare import DAY_S
from pnyx.transparency import limits
from pnyx.transparency.guard import IDENTITY, Guard, within
from pnyx.transparency.keys import key_text, witness_keys
from pnyx.transparency.monitor import AuditReport, audit
from pnyx.transparency.note import NoteVerifier

PROGRESS_EVERY_S = 2.0
WINDOW_HELP = "Seconds per window of use against entitlement (default: a day)"
GAP_HELP = (
    "A member waiting throughout a window more than this many percentage points under its entitled "
    "share is a finding (default: reported, not checked)"
)
CHUNK_BYTES = 64 * 1024


class UrlTiles:
    """A log's tiles over HTTP(S), with urllib, as a hostile server may serve them: the bounds of
    ``pnyx log verify`` (``transparency.guard``): a cap per kind of path, one deadline per request
    in all, identity bodies only, and no redirect followed (a 3xx is refused as its status)."""

    def __init__(self, prefix: str, timeout_s: float = limits.DEFAULT_TIMEOUT_S) -> None:
        if not prefix.startswith(("http://", "https://")):
            raise InvalidInput(f"{prefix} is neither a directory of tiles nor an http(s) URL", field="url")
        self.prefix, self.timeout_s = prefix.rstrip("/") + "/", timeout_s
        self.opener = urllib.request.build_opener(_NoRedirect)

    def get(self, path: str) -> bytes:
        status, body = self._fetch(path)
        if status == 404 and ".p/" in path:  # tlog-tiles: the full tile serves a partial one
            path = path.split(".p/", maxsplit=1)[0]
            status, body = self._fetch(path)
        if status != 200:
            raise Unavailable(f"GET {self.prefix}{path} answered {status}", code="monitor_fetch")
        return body

    def _fetch(self, path: str) -> tuple[int, bytes]:
        guard = Guard(url=self.prefix + path, path=path, timeout_s=self.timeout_s)
        deadline = time.monotonic() + self.timeout_s
        return within(self.timeout_s, lambda: self._read(guard, deadline), guard.late)

    def _read(self, guard: Guard, deadline: float) -> tuple[int, bytes]:
        request = urllib.request.Request(guard.url, headers=IDENTITY)  # noqa: S310 (http(s): checked when made)
        try:
            with self.opener.open(request, timeout=self.timeout_s) as response:
                guard.accept(response.headers.get("Content-Encoding"), response.headers.get("Content-Length"))
                return 200, guard.body(_chunks(response, limits.max_bytes(guard.path)), deadline)
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, b""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: urllib then raises the 3xx as an ``HTTPError``, answered as its status."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def _chunks(response: http.client.HTTPResponse, cap: int) -> Iterator[bytes]:
    """The body as it arrives, never more than ``cap`` + 1 bytes of it (one more tells it is over)."""
    left = cap + 1
    while left > 0 and (chunk := response.read1(min(CHUNK_BYTES, left))):
        left -= len(chunk)
        yield chunk


class Progress:
    """A line on stderr every few seconds of a long run: what is done of how much."""

    def __init__(self, stream: TextIO, every_s: float = PROGRESS_EVERY_S) -> None:
        self.stream, self.every_s = stream, every_s
        self.last = time.monotonic()

    def show(self, text: str, *, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= self.every_s:
            self.last = now
            print(text, file=self.stream, flush=True)

    def tiles(self, done: int, total: int) -> None:
        self.show(f"verifying the log: {done:,} of {total:,} tiles")

    def entries(self, entries: Iterable[tuple[int, Mapping[str, Any]]], size: int) -> Iterator[Any]:
        records = 0
        for index, entry in entries:
            data = entry.get("data")
            records += int(entry.get("type") == CYCLE and isinstance(data, dict) and data.get("part") == 1)
            self.show(f"replaying: {records:,} decision records, entry {index + 1:,} of {size:,}")
            yield index, entry


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pnyx-audit",
        description="Replay a Pnyx log's decision records from the log alone.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the version on one line, unwrapped
    )
    p.add_argument("url", help="The log prefix (http://HOST/log) or a directory of its tiles")
    p.add_argument("--key", required=True, help="The log's verifier key (or a file holding it)")
    p.add_argument("--witness", action="append", default=[], help="A witness's cosignature key; repeatable")
    p.add_argument("--min-witnesses", type=int, default=None, help="Known witnesses that must have cosigned")
    p.add_argument("--scheduler", action="append", default=[], help="Another scheduler version to accept")
    p.add_argument(
        "--max-size",
        type=int,
        default=limits.DEFAULT_MAX_SIZE,
        help="Refuse a checkpoint of more entries than this before fetching any tile",
    )
    p.add_argument(
        "--timeout-s",
        type=float,
        default=limits.DEFAULT_TIMEOUT_S,
        help="Seconds each request may take in all, headers and body (not per read)",
    )
    p.add_argument("--window", type=float, default=DAY_S, help=WINDOW_HELP)
    p.add_argument("--max-share-gap", type=float, default=None, help=GAP_HELP)
    p.add_argument("--version", action="version", version=f"scheduler {scheduler_version()}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every record replays in agreement, 1 when not, else the CLI's error codes."""
    args = parser().parse_args(argv)
    try:
        return run(args, sys.stdout, Progress(sys.stderr))
    except FacilityError as exc:
        return _fail(exc.code, exc.message, EXIT_CODES[exc.kind])
    except urllib.error.URLError as exc:
        return _fail("unreachable", f"{args.url} {exc.reason}", 6)
    except OSError as exc:
        return _fail("os_error", f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 2)


def run(args: argparse.Namespace, out: TextIO, progress: Progress) -> int:
    witnesses, needed = witness_keys(args.witness, args.min_witnesses)
    verifier, source = NoteVerifier.from_vkey(key_text(args.key)), _source(args.url, args.timeout_s)
    checked = audit(
        source,
        verifier,
        progress=progress.tiles,
        witnesses=witnesses,
        min_witnesses=needed,
        max_size=args.max_size,
    )
    if checked.checkpoint is None or not checked.ok:
        return _log_failed(checked, progress.stream)
    size, known = checked.checkpoint.size, {scheduler_version(), *args.scheduler}
    window_s, gap = fairness_options(args.window, args.max_share_gap)
    entries = progress.entries(log_entries(source, checked.leaf_hashes), size)
    return _report(replay(entries, known, window_s=window_s, max_share_gap=gap), out, progress.stream)


def fairness_options(window_s: float, gap_points: float | None) -> tuple[float, float | None]:
    """``--window`` (seconds, more than 0) and ``--max-share-gap`` (percentage points, 0..100) as
    ``replay`` takes them (the gap as a fraction)."""
    if not 0 < window_s <= 366 * DAY_S:
        raise InvalidInput(
            f"--window {window_s} must be more than 0 seconds and at most a year", field="window"
        )
    if gap_points is not None and not 0 <= gap_points <= 100:
        raise InvalidInput(
            f"--max-share-gap {gap_points} must be 0..100 percentage points", field="max_share_gap"
        )
    return window_s, None if gap_points is None else gap_points / 100


def _log_failed(checked: AuditReport, err: TextIO) -> int:
    for problem in checked.problems:
        where = f"index {problem.index}: " if problem.index is not None else ""
        print(f"✗ {where}{problem.message}", file=err)
    print("FAILED: the log itself does not verify; nothing replayed", file=err)
    return 1


def _source(url: str, timeout_s: float) -> Tiles:
    return DirectoryTiles(Path(url)) if Path(url).is_dir() else UrlTiles(url, timeout_s)


def _report(report: ReplayReport, out: TextIO, err: TextIO) -> int:
    for line in summary_lines(report):
        print(line, file=out)
    if not report.ok:
        for finding in report.problems:
            print(f"✗ index {finding.index}: {finding.message}", file=err)
        print(
            f"FAILED: {len(report.problems)} problem(s) in {report.cycles} decision records; "
            f"first at index {report.problems[0].index}",
            file=err,
        )
        return 1
    print(
        f"OK: {report.cycles} decision records in {report.entries:,} entries; every cycle decided again "
        f"in agreement ({report.agreed}); labels, co-tenancy and whole gangs hold",
        file=out,
    )
    return 0


def summary_lines(report: ReplayReport) -> list[str]:
    """What ``pnyx audit replay`` and the bundle print before their verdict: use against
    entitlement over the records and per window, the reset records after the first, and what could
    not be checked."""
    return [*usage_lines(report), *window_lines(report), *reset_lines(report), *note_lines(report)]


def window_lines(report: ReplayReport) -> list[str]:
    """One line per window: each member state's share of use / share of entitlement, ``*`` where
    it had a job waiting at every record of the window."""
    if not report.windows:
        return []
    lines = ["per window (UTC): member use / entitlement, * waiting throughout"]
    for w in report.windows:
        start = datetime.fromtimestamp(w.start, UTC).strftime("%Y-%m-%d %H:%M")
        shares = " ".join(
            f"{u.member} {u.used_share:.1%}/{u.entitled_share:.1%}{'*' if u.waiting_throughout else ''}"
            for u in w.members
        )
        lines.append(f"  {start} (indexes {w.first_index}-{w.last_index}): {shares}")
    return lines


def reset_lines(report: ReplayReport) -> list[str]:
    """A note per reset record after the first (it names the record before it, checked)."""
    return [
        f"note: index {index}: a reset record (a dispatcher restarted), naming the record before it"
        for index in report.resets
    ]


def note_lines(report: ReplayReport) -> list[str]:
    """What the replay could not check, once each."""
    return [f"note: {note}" for note in report.notes]


def usage_lines(report: ReplayReport) -> list[str]:
    """Each member state's share of the recorded use against its share of the entitlements."""
    used, entitled = sum(report.used.values()), sum(report.entitled.values())
    if used <= 0 or entitled <= 0:
        return []
    lines = ["member state: share of use / share of entitlement (over the records)"]
    for member in sorted(set(report.used) | set(report.entitled)):
        use, right = report.used.get(member, 0.0) / used, report.entitled.get(member, 0.0) / entitled
        lines.append(f"  {member}: {use:.1%} / {right:.1%}")
    return lines


def _fail(code: str, message: str, exit_code: int) -> int:
    print(f"error ({code}): {message}", file=sys.stderr)
    return exit_code
