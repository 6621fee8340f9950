"""The in-sandbox runner of an SME workspace job, outside any sandbox: the keys pipe read whole then
closed, inputs decrypted under checked names (or the job failed naming the object id, never the
name), the command's exit code and log, and its outputs sealed so that only the workspace key opens
them."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

from pnyx.executors import local_sealed
from pnyx.executors.local_mounts import pipe_holding
from pnyx.workspaces import envelope
from pnyx.workspaces.model import OBJECT_ID_HEX, SEALED_MANIFEST, SEALED_SUFFIX
from pnyx.workspaces.sandbox import (
    JOB_LOG,
    KEYS_MAX_BYTES,
    MANIFEST,
    SUFFIX,
    InputError,
    Work,
    decrypt_inputs,
    read_keys,
    run_command,
    seal_outputs,
    valid_name,
)

WS = "ws-9"


class Objects:
    """Ciphertexts in ``sealed`` as the sandbox sees them (/inputs/.sealed/<object id>)."""

    def __init__(self, sealed: Path) -> None:
        self.sealed = sealed
        self.items: list[dict[str, str]] = []

    def add(self, name: str, data: bytes) -> dict[str, str]:
        object_id = os.urandom(16).hex()
        context, key = envelope.context_of(WS, object_id), envelope.new_data_key()
        with (self.sealed / object_id).open("wb") as dst:
            digest = envelope.encrypt_stream(io.BytesIO(data), dst, key, context, chunk=32)
        meta = envelope.ObjectMeta(
            name=name, plaintext_sha256=digest.plaintext_sha256, size=len(data), salt="00" * 32
        )
        item = {
            "object_id": object_id,
            "context": context,
            "sealed_meta": base64.b64encode(envelope.seal_meta(meta, key, context)).decode(),
            "data_key": base64.b64encode(key).decode(),
        }
        self.items.append(item)
        return item

    def work(self, public_key: str = "", max_files: int = 100) -> Work:
        return Work(workspace_id=WS, public_key=public_key, max_files=max_files, inputs=tuple(self.items))


@pytest.fixture
def objects(tmp_path: Path) -> Objects:
    (tmp_path / "sealed").mkdir()
    (tmp_path / "workspace").mkdir()
    return Objects(tmp_path / "sealed")


def test_the_constants_are_the_models() -> None:
    assert (MANIFEST, SUFFIX) == (SEALED_MANIFEST, SEALED_SUFFIX)


@pytest.mark.parametrize("name", ["a", "a.txt", "dir/sub/file name.bin", "données.csv"])
def test_good_names(name: str) -> None:
    assert valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/", "a\nb", "a\x00", "\u202ex", 3]
)
def test_bad_names(name: object) -> None:
    assert not valid_name(name)


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def test_the_keys_pipe_is_read_whole_then_closed() -> None:
    doc = {"workspace_id": WS, "public_key": "k", "max_files": 3, "inputs": [{"data_key": "a2V5"}]}
    fd = pipe_holding(json.dumps(doc).encode())
    assert read_keys(fd) == Work(workspace_id=WS, public_key="k", max_files=3, inputs=({"data_key": "a2V5"},))
    assert _closed(fd)
    for bad in (b"{not json", b"", b'{"workspace_id": "w"}', b" " * (KEYS_MAX_BYTES + 10)):
        fd = pipe_holding(bad)
        with pytest.raises(InputError, match="keys document"):
            read_keys(fd)
        assert _closed(fd)
    with pytest.raises(InputError, match="keys document"):
        read_keys(fd)  # closed: EBADF


def test_the_runner_bounds_the_keys_document_as_the_executor_does() -> None:
    assert KEYS_MAX_BYTES == local_sealed.KEYS_MAX_BYTES


def test_inputs_are_decrypted_under_their_names(objects: Objects, tmp_path: Path) -> None:
    a = objects.add("a.txt", b"alpha" * 30)
    b = objects.add("deep/er/b.bin", b"")
    assert decrypt_inputs(objects.work(), str(objects.sealed), str(tmp_path / "workspace")) == [
        a["object_id"],
        b["object_id"],
    ]
    assert (tmp_path / "workspace/a.txt").read_bytes() == b"alpha" * 30
    assert (tmp_path / "workspace/deep/er/b.bin").read_bytes() == b""


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        ("same.txt", "same.txt", "repeats another input's"),
        ("a", "a/b", "collides with another input's"),
        ("ok", "../escape", "not a printable relative path"),
        ("ok", "bad\tname", "not a printable relative path"),
    ],
)
def test_a_bad_or_repeated_name_fails_naming_the_object_not_the_name(
    objects: Objects, tmp_path: Path, first: str, second: str, why: str
) -> None:
    objects.add(first, b"1")
    bad = objects.add(second, b"2")
    with pytest.raises(InputError) as raised:
        decrypt_inputs(objects.work(), str(objects.sealed), str(tmp_path / "workspace"))
    assert str(raised.value).startswith(f"input object {bad['object_id']}: ")
    assert why in str(raised.value)
    assert second not in str(raised.value)
    assert not (tmp_path / "escape").exists()


def test_a_tampered_ciphertext_fails_and_leaves_no_partial_plaintext(
    objects: Objects, tmp_path: Path
) -> None:
    item = objects.add("big.txt", b"p" * 200)  # 7 chunks: the first ones are authentic
    path = objects.sealed / item["object_id"]
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(
        InputError, match=f"input object {item['object_id']}: its ciphertext failed its authentication tag"
    ):
        decrypt_inputs(objects.work(), str(objects.sealed), str(tmp_path / "workspace"))
    assert list((tmp_path / "workspace").iterdir()) == []


def test_a_wrong_key_or_a_moved_object_fails_on_its_metadata(objects: Objects, tmp_path: Path) -> None:
    item = objects.add("a", b"x")
    item["data_key"] = base64.b64encode(envelope.new_data_key()).decode()
    with pytest.raises(InputError, match="its sealed metadata does not open"):
        decrypt_inputs(objects.work(), str(objects.sealed), str(tmp_path / "workspace"))
    objects.items = [objects.add("b", b"y")]
    objects.items[0]["context"] = envelope.context_of("ws-other", objects.items[0]["object_id"])
    with pytest.raises(InputError, match="its sealed metadata does not open"):
        decrypt_inputs(objects.work(), str(objects.sealed), str(tmp_path / "workspace"))


def test_the_command_runs_with_its_output_in_the_outputs_log(tmp_path: Path) -> None:
    code = run_command(["sh", "-c", "echo out; echo err >&2; exit 3"], str(tmp_path))
    assert code == 3
    assert (tmp_path / JOB_LOG).read_text() == "out\nerr\n"
    assert run_command(["sh", "-c", "kill -KILL $$"], str(tmp_path)) == 128 + 9
    assert run_command(["/nonexistent/cmd"], str(tmp_path)) == 127
    assert "/nonexistent/cmd" in (tmp_path / JOB_LOG).read_text()


def test_outputs_are_sealed_to_the_workspace_key_only(tmp_path: Path) -> None:
    pair = envelope.generate_keypair()
    outputs, sealed = tmp_path / "outputs", tmp_path / "sealed"
    (outputs / "sub").mkdir(parents=True)
    sealed.mkdir()
    (outputs / "model.bin").write_bytes(b"w" * 100)
    (outputs / "sub" / "empty").write_bytes(b"")
    (outputs / "link").symlink_to(outputs / "model.bin")
    os.mkfifo(outputs / "fifo")
    (outputs / "bad\x01name").write_bytes(b"x")
    fd = os.open(sealed, os.O_RDONLY | os.O_DIRECTORY)
    try:
        result = seal_outputs(
            str(outputs), fd, Work(workspace_id=WS, public_key=pair.public_key, max_files=10, inputs=())
        )
    finally:
        os.close(fd)

    assert (len(result.objects), result.skipped, result.failed) == (2, 3, 0)
    manifest = json.loads((sealed / SEALED_MANIFEST).read_text())
    assert manifest["version"] == 1
    assert manifest["workspace_id"] == WS
    opened = {}
    for entry in manifest["objects"]:
        object_id = entry["object_id"]
        assert len(object_id) == OBJECT_ID_HEX
        assert sorted(entry) == sorted(
            [
                "object_id",
                "file",
                "wrapped_key",
                "sealed_meta",
                "commitment",
                "ciphertext_sha256",
                "ciphertext_size",
            ]
        )
        context = envelope.context_of(WS, object_id)
        wrapped = base64.b64decode(entry["wrapped_key"])
        with pytest.raises(envelope.WrongKey):
            envelope.unwrap_key(wrapped, envelope.generate_keypair().private_pem, context)
        key = envelope.unwrap_key(wrapped, pair.private_pem, context)
        meta = envelope.open_meta(base64.b64decode(entry["sealed_meta"]), key, context)
        plain = io.BytesIO()
        ciphertext = (sealed / entry["file"]).read_bytes()
        digest = envelope.decrypt_stream(io.BytesIO(ciphertext), plain, key, context)
        assert digest.ciphertext_size == entry["ciphertext_size"] == len(ciphertext)
        assert envelope.opens(entry["commitment"], meta.salt, meta.plaintext_sha256)
        opened[meta.name] = plain.getvalue()
    assert opened == {"model.bin": b"w" * 100, "sub/empty": b""}
    assert sorted(os.listdir(sealed)) == sorted([SEALED_MANIFEST, *(e["file"] for e in manifest["objects"])])


def test_files_past_the_cap_are_skipped_and_counted(tmp_path: Path) -> None:
    outputs, sealed = tmp_path / "outputs", tmp_path / "sealed"
    outputs.mkdir()
    sealed.mkdir()
    for n in range(5):
        (outputs / f"f{n}").write_bytes(b"x")
    fd = os.open(sealed, os.O_RDONLY | os.O_DIRECTORY)
    try:
        work = Work(
            workspace_id=WS, public_key=envelope.generate_keypair().public_key, max_files=2, inputs=()
        )
        result = seal_outputs(str(outputs), fd, work)
    finally:
        os.close(fd)
    assert (len(result.objects), result.skipped) == (2, 3)
