"""Loaders for the public GPU-cluster traces, mapped onto trace jobs.

Microsoft Philly (github.com/msr-fiddle/philly-traces, ``cluster_job_log``: a JSON list):
  jobid -> job_id; submitted_time -> submit_s (seconds after the first submission);
  attempts[].detail[].gpus -> accelerators (GPUs of the first attempt);
  runtime_s = last attempt end - first attempt start; vc -> project; user -> user.
Alibaba PAI 2020 (github.com/alibaba/clusterdata, cluster-trace-gpu-v2020 ``pai_task_table.csv``,
no header: job_name, task_name, inst_num, status, start_time, end_time, plan_cpu, plan_mem,
plan_gpu, gpu_type): one job per job_name; accelerators = ceil(sum inst_num x plan_gpu / 100)
(plan_gpu is a percentage of one GPU); submit_s = earliest task start_time; runtime_s = latest
end_time - earliest start_time; tasks without GPUs are skipped.
SenseTime Helios (github.com/S-Lab-System-Group/HeliosData, ``cluster_log.csv`` with header:
job_id, user, vc, gpu_num, cpu_num, node_num, state, submit_time, start_time, end_time, duration,
queue): gpu_num -> accelerators (CPU-only jobs skipped); duration -> runtime_s; submit_time ->
submit_s; vc -> project; user -> user.
None of the three records an accelerator type we have, a label, a class or a checkpoint interval:
those take the trace CSV defaults (any type, L1, entitled, no checkpoint). Jobs that never ran
(no runtime) are skipped; members are assigned by ``traces.assign_members``.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from pnyx.scheduler.model import Job
from pnyx.sim.traces import TraceError, TraceJob


def _seconds(value: Any) -> float | None:
    if value in (None, "", "None"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return datetime.fromisoformat(str(value)).timestamp()


def _rebase(jobs: list[TraceJob]) -> list[TraceJob]:
    if not jobs:
        return []
    first = min(t.job.submit_s for t in jobs)
    out = [
        TraceJob(job=Job(**{**_fields(t.job), "submit_s": t.job.submit_s - first}), runtime_s=t.runtime_s)
        for t in jobs
    ]
    return sorted(out, key=lambda t: (t.job.submit_s, t.job.id))


def _fields(job: Job) -> dict[str, Any]:
    return {name: getattr(job, name) for name in Job.__dataclass_fields__}


def _job(job_id: str, *, submit: float, gpus: int, runtime: float, project: str, user: str) -> TraceJob:
    job = Job(id=job_id, accelerators=gpus, estimate_s=runtime, submit_s=submit, project=project, user=user)
    return TraceJob(job=job, runtime_s=runtime)


def load_philly(path: Path) -> list[TraceJob]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TraceError(f"{path}: not the Philly JSON job log: {exc}", field="trace") from exc
    out = []
    for index, r in enumerate(records):
        attempts = r.get("attempts") or []
        submit = _seconds(r.get("submitted_time"))
        starts = [_seconds(a.get("start_time")) for a in attempts]
        ends = [_seconds(a.get("end_time")) for a in attempts]
        if submit is None or not attempts or starts[0] is None or ends[-1] is None:
            continue
        gpus = sum(len(d.get("gpus", [])) for d in attempts[0].get("detail", []))
        runtime = ends[-1] - starts[0]
        if gpus <= 0 or runtime <= 0:
            continue
        job_id = str(r.get("jobid", f"philly-{index}"))
        project, user = str(r.get("vc", "-")), str(r.get("user", "-"))
        out.append(_job(job_id, submit=submit, gpus=gpus, runtime=runtime, project=project, user=user))
    return _rebase(out)


def load_pai(path: Path) -> list[TraceJob]:
    jobs: dict[str, dict[str, float]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if line == 1 and row and row[0] == "job_name":
                continue
            if len(row) < 9:
                raise TraceError(
                    f"{path} line {line}: {len(row)} fields, pai_task_table has 10", field="trace"
                )
            try:
                inst, start, end = float(row[2] or 0), _seconds(row[4]), _seconds(row[5])
                gpu = float(row[8] or 0)
            except ValueError as exc:
                raise TraceError(f"{path} line {line}: {exc}", field="trace") from exc
            if start is None or end is None or gpu <= 0:
                continue
            j = jobs.setdefault(row[0], {"start": start, "end": end, "gpu": 0.0})
            j["start"], j["end"], j["gpu"] = min(j["start"], start), max(j["end"], end), j["gpu"] + inst * gpu
    out = [
        _job(
            name,
            submit=j["start"],
            gpus=max(1, math.ceil(j["gpu"] / 100)),
            runtime=j["end"] - j["start"],
            project="-",
            user="-",
        )
        for name, j in jobs.items()
        if j["end"] > j["start"]
    ]
    return _rebase(out)


def load_helios(path: Path) -> list[TraceJob]:
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for line, row in enumerate(reader, start=2):
            try:
                gpus, duration = int(row["gpu_num"] or 0), float(row["duration"] or 0)
                submit = _seconds(row["submit_time"])
            except (KeyError, ValueError) as exc:
                raise TraceError(f"{path} line {line}: {exc!r}", field="trace") from exc
            if gpus <= 0 or duration <= 0 or submit is None:
                continue
            project, user = row.get("vc") or "-", row.get("user") or "-"
            out.append(
                _job(row["job_id"], submit=submit, gpus=gpus, runtime=duration, project=project, user=user)
            )
    return _rebase(out)


LOADERS = {"philly": load_philly, "pai": load_pai, "helios": load_helios}
