"""Small I/O helpers: atomic writes, hashing, results JSON."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, Iterator

from . import paths


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | Path, obj: Any) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return path


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    """One JSON object a line, written atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r, default=_json_default) + "\n" for r in rows))
    return path


def read_json(path: str | Path) -> Any:
    with open(path) as f:
        return json.load(f)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):  # typed settings sections
        return obj.to_dict()
    if isinstance(obj, Mapping):  # read-only mappings inside settings
        return dict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_result(profile: str, name: str, obj: Any) -> Path:
    """Write book/results/<profile>/<name>.json atomically (name may contain '/')."""
    return write_json(paths.results_dir(profile) / f"{name}.json", obj)


def read_result(profile: str, name: str) -> Any:
    path = paths.results_dir(profile) / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run the pipeline stage that writes it "
            f"(python -m safealign.pipeline --profile {profile})"
        )
    return read_json(path)
