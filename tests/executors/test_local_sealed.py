"""SME workspace jobs on the local executor, in real bubblewrap sandboxes under job uids: inputs
decrypted inside only, outputs sealed to the workspace's key, and nothing of either (nor a data key)
left anywhere under the job root, nor in any process memory the command can read; tampering, a
neighbour job and an executor restart."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pnyx.executors.local import LocalExecutor, wait_until_final
from pnyx.executors.local_runtime import runtime_setting
from pnyx.executors.local_sealed import KEYS_LOST
from pnyx.executors.sandbox import SandboxConfig
from pnyx.jobs.model import EngineRef, EngineRejected, EngineState, JobSpec, SealedInput, SealedWork
from pnyx.workspaces import envelope
from pnyx.workspaces.model import SEALED_MANIFEST
from tests.executors.conftest import GRANT, py, spec

WORKSPACE = "ws-1"
ALPHA = b"ALPHA-PLAINTEXT-41b7 " * 3
BRAVO = b"BRAVO-PLAINTEXT-9c2e\n" * 5
COMPUTE = """
import os, json
found = sorted(os.path.join(d, f) for d, _, files in os.walk('/inputs/workspace') for f in files)
a, b = (open(f, 'rb').read() for f in found)
os.makedirs('outputs/sub', exist_ok=True)
open('outputs/sum.txt', 'wb').write(a.lower() + str(len(a) + len(b)).encode())
open('outputs/sub/both.bin', 'wb').write(a + b)
os.symlink('/etc/hostname', 'outputs/link')
def state(fd):
    try:
        os.fstat(fd)
        return 'open'
    except OSError:
        return 'closed'
seen = {'fds': [state(62), state(63)], 'env': os.environ['PNYX_WORKSPACE_INPUTS'],
        'disk': sorted(os.listdir('/job')), 'found': found}
print(b.lower().decode().split()[0], json.dumps(seen))
"""


@dataclass(frozen=True)
class Workspace:
    keys: envelope.KeyPair
    store: Path  # the control plane's ciphertexts (0700, root's)

    def put(self, name: str, data: bytes) -> SealedInput:
        object_id = os.urandom(16).hex()
        context = envelope.context_of(WORKSPACE, object_id)
        key = envelope.new_data_key()
        path = self.store / object_id
        with path.open("wb") as dst:
            digest = envelope.encrypt_stream(io.BytesIO(data), dst, key, context, chunk=64)
        path.chmod(0o600)
        meta = envelope.ObjectMeta(
            name=name, plaintext_sha256=digest.plaintext_sha256, size=len(data), salt=envelope.new_salt()
        )
        sealed_meta = envelope.seal_meta(meta, key, context)
        return SealedInput(
            object_id=object_id, path=str(path), context=context, sealed_meta=sealed_meta, data_key=key
        )

    def job(self, key: str, code: str, *inputs: SealedInput, limit: int = 60) -> JobSpec:
        work = SealedWork(workspace_id=WORKSPACE, public_key=self.keys.public_key, inputs=inputs)
        return dataclasses.replace(spec(key, *py(code), limit=limit), sealed=work)

    def open_outputs(self, outputs: Path) -> dict[str, bytes]:
        """What the SME reads with its private key: every sealed output, by its name."""
        manifest = json.loads((outputs / SEALED_MANIFEST).read_text())
        assert manifest["version"] == 1
        assert manifest["workspace_id"] == WORKSPACE
        found = {}
        for entry in manifest["objects"]:
            context = envelope.context_of(WORKSPACE, entry["object_id"])
            key = envelope.unwrap_key(base64.b64decode(entry["wrapped_key"]), self.keys.private_pem, context)
            meta = envelope.open_meta(base64.b64decode(entry["sealed_meta"]), key, context)
            plain = io.BytesIO()
            with (outputs / entry["file"]).open("rb") as src:
                digest = envelope.decrypt_stream(src, plain, key, context)
            assert entry["file"] == f"{entry['object_id']}.pxo"
            assert (digest.ciphertext_sha256, digest.ciphertext_size) == (
                entry["ciphertext_sha256"],
                entry["ciphertext_size"],
            )
            assert envelope.opens(entry["commitment"], meta.salt, digest.plaintext_sha256)
            assert meta.size == len(plain.getvalue())
            found[meta.name] = plain.getvalue()
        return found


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    store = tmp_path / "data" / "workspaces"
    store.mkdir(parents=True, mode=0o700)
    (tmp_path / "data").chmod(0o700)
    return Workspace(keys=envelope.generate_keypair(), store=store)


@pytest.fixture
def sealed_config(job_root: Path, tmp_path: Path) -> SandboxConfig:
    runtime = runtime_setting(
        "server", hidden={"the data directory": tmp_path / "data", "the job root": job_root}
    )
    return SandboxConfig(runtime=runtime, max_jobs=4)


def run(ex: LocalExecutor, job: JobSpec, timeout_s: float = 60.0) -> tuple[EngineRef, EngineState, str]:
    ref = ex.submit(job, GRANT)
    status = wait_until_final(ex, ref, timeout_s=timeout_s)
    return ref, status.state, ex.logs(ref)


def everything_under(root: Path) -> bytes:
    """Every byte of every regular file under ``root`` (state and work directories, logs, records)."""
    chunks = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            chunks.append(path.read_bytes())
    return b"\0".join(chunks)


def test_a_sealed_job_reads_decrypted_inputs_and_leaves_only_ciphertext(
    job_root: Path, workspace: Workspace, sealed_config: SandboxConfig
) -> None:
    alpha, bravo = workspace.put("alpha.txt", ALPHA), workspace.put("deep/bravo.txt", BRAVO)
    ex = LocalExecutor(job_root, sealed_config)

    ref, state, log = run(ex, workspace.job("s1", COMPUTE, alpha, bravo))

    assert state is EngineState.SUCCEEDED, log
    assert (
        f"decrypted 2 workspace inputs into /inputs/workspace (objects {alpha.object_id}, {bravo.object_id})"
        in log
    )
    assert "sealed 3 outputs" in log
    assert "1 outputs not sealed" in log  # the symlink
    opened = workspace.open_outputs(job_root / "work" / "s1" / "outputs")
    assert set(opened) == {"sum.txt", "sub/both.bin", "pnyx-job.log"}
    assert opened["sum.txt"] == ALPHA.lower() + str(len(ALPHA) + len(BRAVO)).encode()
    assert opened["sub/both.bin"] == ALPHA + BRAVO
    printed, seen = opened["pnyx-job.log"].decode().split(" ", 1)
    assert printed == "bravo-plaintext-9c2e"
    assert json.loads(seen) == {
        "fds": ["closed", "closed"],
        "env": "/inputs/workspace",
        "disk": ["inputs", "outputs"],
        "found": ["/inputs/workspace/alpha.txt", "/inputs/workspace/deep/bravo.txt"],
    }

    left = everything_under(job_root)
    secrets = [
        ALPHA,
        BRAVO,
        b"alpha-plaintext",
        b"bravo-plaintext",
        b"ALPHA-PLAIN",
        b"BRAVO-PLAIN",
        b"alpha.txt",
    ]
    secrets += [b"bravo.txt"]
    for item in (alpha, bravo):
        secrets += [item.data_key, base64.b64encode(item.data_key), item.data_key.hex().encode()]
    assert [s for s in secrets if s in left] == []
    assert {a.path for a in ex.artifacts(ref)} == set(os.listdir(job_root / "work/s1/outputs"))
    assert ex.checkpoints(ref, ()) == []


def test_a_tampered_input_fails_the_job_naming_its_object_before_the_command_runs(
    job_root: Path, workspace: Workspace, sealed_config: SandboxConfig
) -> None:
    good, bad = workspace.put("good.txt", ALPHA), workspace.put("bad.txt", BRAVO * 20)
    data = bytearray(Path(bad.path).read_bytes())
    data[200] ^= 1
    Path(bad.path).write_bytes(bytes(data))

    _ref, state, log = run(
        LocalExecutor(job_root, sealed_config), workspace.job("s2", "open('outputs/ran', 'w')", good, bad)
    )

    assert state is EngineState.FAILED
    assert f"input object {bad.object_id}: its ciphertext failed its authentication tag" in log
    assert "the command did not run" in log
    assert "bad.txt" not in log
    assert os.listdir(job_root / "work" / "s2" / "outputs") == []


def test_a_neighbour_job_sees_neither_the_ciphertexts_nor_the_plaintext(
    job_root: Path, workspace: Workspace, sealed_config: SandboxConfig
) -> None:
    alpha = workspace.put("alpha.txt", ALPHA)
    ex = LocalExecutor(job_root, sealed_config)
    code = "import time, shutil; shutil.copy('/inputs/workspace/alpha.txt', 'outputs/x'); time.sleep(60)"
    sealed = ex.submit(workspace.job("s3", code, alpha), GRANT)
    _until_logged(ex, sealed, "decrypted 1 workspace inputs")
    probe = f"""
import json, os
paths = ['/inputs/.sealed', '/inputs/workspace', '/run/pnyx', '{job_root}/work/s3', '{workspace.store}']
print(json.dumps({{'seen': [p for p in paths if os.path.exists(p)],
                   'procs': sorted(p for p in os.listdir('/proc') if p.isdigit())}}))
"""
    neighbour = ex.submit(spec("n3", *py(probe)), GRANT)

    status = wait_until_final(ex, neighbour)

    assert status.state is EngineState.SUCCEEDED, ex.logs(neighbour)
    assert ex.status([sealed])[0].state is EngineState.RUNNING  # it ran beside the sealed job
    found = json.loads(ex.logs(neighbour).splitlines()[-1])
    assert found["seen"] == []
    assert len(found["procs"]) <= 2  # its own pid namespace: bwrap's init and itself
    ex.cancel(sealed)  # SIGTERM: the command ends, the runner seals what it left
    assert wait_until_final(ex, sealed).state is EngineState.CANCELLED
    assert workspace.open_outputs(job_root / "work" / "s3" / "outputs")["x"] == ALPHA


def _until_logged(ex: LocalExecutor, ref: EngineRef, text: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in ex.logs(ref):
        assert time.monotonic() < deadline, ex.logs(ref)
        time.sleep(0.05)
    time.sleep(1.5)  # the command starts and writes its output


def test_a_sealed_job_relaunched_after_a_restart_fails_for_its_lost_keys(
    job_root: Path, workspace: Workspace, sealed_config: SandboxConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha = workspace.put("alpha.txt", ALPHA)
    crashed = LocalExecutor(job_root, sealed_config)
    monkeypatch.setattr(crashed._spawner, "hand", lambda *_args: None)  # died between write and hand
    ref = crashed.submit(workspace.job("s4", "open('outputs/ran', 'w')", alpha), GRANT)

    restarted = LocalExecutor(job_root, sealed_config)
    status = wait_until_final(restarted, ref)

    assert (status.state, status.message) == (EngineState.FAILED, KEYS_LOST)
    assert "data keys of this SME workspace job were lost" in restarted.logs(ref)
    assert alpha.data_key not in everything_under(job_root)
    assert (
        os.listdir(job_root / "work" / "s4" / "outputs") == []
        if (job_root / "work" / "s4").exists()
        else True
    )
    restarted.close()


def test_sealed_jobs_need_the_server_runtime_and_the_sandbox(job_root: Path, workspace: Workspace) -> None:
    job = workspace.job("s5", "print(1)", workspace.put("a", b"x"))
    with pytest.raises(EngineRejected, match="PNYX_LOCAL_RUNTIME=server"):
        LocalExecutor(job_root).submit(job, GRANT)
    with pytest.raises(EngineRejected, match="PNYX_SANDBOX=off"):
        LocalExecutor(job_root, SandboxConfig(enabled=False)).submit(job, GRANT)
    assert LocalExecutor(job_root).find("s5") is None


def test_a_sealed_job_with_a_foreign_object_is_refused(
    job_root: Path, workspace: Workspace, sealed_config: SandboxConfig
) -> None:
    item = workspace.put("a", b"x")
    moved = dataclasses.replace(item, context=envelope.context_of("ws-other", item.object_id))
    escaping = dataclasses.replace(item, object_id="../../etc")
    for bad in (moved, escaping):
        with pytest.raises(EngineRejected, match="not an object of its workspace"):
            LocalExecutor(job_root, sealed_config).submit(workspace.job("s6", "print(1)", bad), GRANT)


def test_the_other_engines_refuse_sealed_jobs(workspace: Workspace) -> None:
    from pnyx.executors.kubernetes import KubernetesConfig, build_job
    from pnyx.executors.ray import RayConfig, build_submission
    from pnyx.executors.slurm import SlurmConfig, build_request

    job = workspace.job("s7", "print(1)", workspace.put("a", b"x"))
    slurm = SlurmConfig(
        user="root", token="t", accounts={"p": "a"}, working_directory="/w", log_directory="/l"
    )
    builders: dict[str, Callable[[], object]] = {
        "Ray": lambda: build_submission(job, GRANT, RayConfig()),
        "Slurm": lambda: build_request(job, GRANT, slurm),
        "Kubernetes": lambda: build_job(job, GRANT, KubernetesConfig(namespace="n", default_image="i")),
    }
    for engine, build in builders.items():
        with pytest.raises(EngineRejected, match=f"local executor only: {engine} cannot keep them sealed"):
            build()


SCAN = r"""
import json, os, re
PREFIXES = PREFIXES_HERE  # (form, length, the key's first bytes in that form)
canary = b'canary-' + os.urandom(8).hex().encode()  # in this process's memory only
me, readable, hits, found_canary = os.getpid(), [], [], False
for name in sorted(n for n in os.listdir('/proc') if n.isdigit()):
    try:
        regions = [line.split() for line in open(f'/proc/{name}/maps')]
        mem = open(f'/proc/{name}/mem', 'rb', 0)
    except OSError:
        continue
    readable.append(int(name))
    with mem:
        for fields in regions:
            if 'r' not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split('-'))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            found_canary = found_canary or (int(name) == me and canary in data)
            for form, length, prefix in PREFIXES:
                at = [m.start() for m in re.finditer(re.escape(prefix), data)]
                hits += [[form, data[i:i + length].hex()] for i in at]
            for m in re.finditer(rb'"data_key": "([A-Za-z0-9+/=]{44})"', data):
                hits.append(['json', m.group(1).hex()])
pids = sorted(int(n) for n in os.listdir('/proc') if n.isdigit())
seen = {'me': me, 'pids': pids, 'readable': readable, 'canary': found_canary, 'hits': hits}
print('SCAN ' + json.dumps(seen))
"""


def key_forms(item: SealedInput) -> list[tuple[str, bytes]]:
    """A data key as it could lie in memory: raw, base64 (the keys document's), hex."""
    key = item.data_key
    return [("raw", key), ("base64", base64.b64encode(key)), ("hex", key.hex().encode())]


def test_the_command_finds_no_data_key_in_any_process_memory_of_its_sandbox(
    job_root: Path, workspace: Workspace, sealed_config: SandboxConfig
) -> None:
    """Attack 1 (/proc/1/mem): bwrap's init, dumpable and the job's uid, kept the keys document in
    its freed heap. The command scans every process of its pid namespace whose memory it can read."""
    alpha, bravo = workspace.put("alpha.txt", ALPHA), workspace.put("bravo.txt", BRAVO)
    forms = [form for item in (alpha, bravo) for form in key_forms(item)]
    prefixes = [(name, len(value), value[:8]) for name, value in forms]
    job = workspace.job("a1", SCAN.replace("PREFIXES_HERE", repr(prefixes)), alpha, bravo)

    _ref, state, log = run(LocalExecutor(job_root, sealed_config), job)

    assert state is EngineState.SUCCEEDED, log
    printed = workspace.open_outputs(job_root / "work" / "a1" / "outputs")["pnyx-job.log"].decode()
    [line] = [x for x in printed.splitlines() if x.startswith("SCAN ")]
    scan = json.loads(line.removeprefix("SCAN "))
    assert scan["canary"], "the scan reads process memory (its own)"
    stolen = {bytes.fromhex(found) for _form, found in scan["hits"]}
    assert [name for name, value in forms if value in stolen] == []
    assert scan["readable"] == [scan["me"]]  # the runner is undumpable
    assert scan["pids"] == [1, scan["me"]]  # the runner (init, --as-pid-1) and the command only


ORPHANS = """
import os
failed = 0
for _ in range(400):  # more than the uid's process limit (256): each orphan must be reaped
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if os.fork() == 0:
                os._exit(0)
            code = 0
        finally:
            os._exit(code)
    failed += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
print('failed', failed, open('/proc/1/cmdline', 'rb').read().split(bytes(1))[2:4])
"""


def test_the_runner_is_the_sandbox_init_and_reaps_what_the_command_orphans(
    job_root: Path, workspace: Workspace, sealed_config: SandboxConfig
) -> None:
    ex = LocalExecutor(job_root, sealed_config)

    _ref, state, log = run(ex, workspace.job("a2", ORPHANS, workspace.put("a", b"x")))

    assert state is EngineState.SUCCEEDED, log
    printed = workspace.open_outputs(job_root / "work" / "a2" / "outputs")["pnyx-job.log"].decode()
    assert printed == "failed 0 [b'-m', b'pnyx.workspaces.sandbox']\n"
