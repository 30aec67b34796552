"""One code digest for the whole project: which safealign modules a piece of code runs, and their hash.

The pipeline's stage fingerprints and the answer cache both use it. A notebook's modules are read from
its import statements, then followed through every import inside the library (function-level imports
included, since they run too): a new module that nothing imports changes no fingerprint.

Importing `safealign.a.b` runs `safealign/a/__init__.py` first, so a package's `__init__` (and what it
imports) belongs to every module below it. Names are relative to the package: "judges.harm".
"""

from __future__ import annotations

import ast
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from . import paths

PACKAGE = "safealign"


def module_file(name: str, root: Path | None = None) -> Path | None:
    """The file of module `name` ("" is the package itself), or None when there is no such module."""
    base = (root or paths.PACKAGE_DIR).joinpath(*name.split(".")) if name else (root or paths.PACKAGE_DIR)
    if base.with_suffix(".py").is_file() and name:
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [""] + [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(importer: str, is_package: bool, node: ast.AST) -> set[str]:
    """The safealign modules an import statement in module `importer` loads."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                found.add(alias.name[len(PACKAGE) + 1:])
        return found
    if not isinstance(node, ast.ImportFrom):
        return found
    if node.level:
        here = importer.split(".") if importer else []
        package = here if is_package else here[:-1]
        if node.level > 1:
            package = package[:len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    elif node.module == PACKAGE or (node.module or "").startswith(PACKAGE + "."):
        base = node.module[len(PACKAGE) + 1:]
    else:
        return found
    found.add(base)
    for alias in node.names:
        sub = f"{base}.{alias.name}" if base else alias.name
        if module_file(sub) is not None:
            found.add(sub)
    return found


@lru_cache(maxsize=None)
def _direct_imports(name: str, file: str, mtime_ns: int) -> frozenset[str]:
    path = Path(file)
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        found |= _resolve(name, is_package, node)
    return frozenset(found)


def direct_imports(name: str) -> frozenset[str]:
    path = module_file(name)
    if path is None:
        raise FileNotFoundError(f"no module safealign.{name} under {paths.PACKAGE_DIR}")
    return _direct_imports(name, str(path), path.stat().st_mtime_ns)


def closure(names: Iterable[str]) -> list[str]:
    """Every safealign module that importing `names` runs (sorted; "" is safealign/__init__.py)."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if module_file(name) is None:
            raise FileNotFoundError(f"no module safealign.{name} under {paths.PACKAGE_DIR}")
        seen.add(name)
        pending.extend(_parents(name) if name else [])
        pending.extend(direct_imports(name))
    return sorted(seen)


def code_imports(source: str) -> set[str]:
    """The safealign modules a piece of Python source (a notebook's code cells) imports."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level):
            found |= _resolve("", True, node)
    return found


def source_digests(names: Iterable[str]) -> dict[str, str]:
    """sha256 of each module's file, keyed by its name relative to the package."""
    return {(name or "__init__"): hashlib.sha256(module_file(name).read_bytes()).hexdigest() for name in names}


def code_digest(names: Iterable[str]) -> str:
    """One sha256 for the source of `names` and everything they import."""
    return hashlib.sha256(json.dumps(source_digests(closure(names)), sort_keys=True).encode()).hexdigest()


def exact(names: Iterable[str]) -> str:
    """One sha256 for the source of exactly `names` (no closure): for code whose callers fix the rest."""
    return hashlib.sha256(json.dumps(source_digests(names), sort_keys=True).encode()).hexdigest()
