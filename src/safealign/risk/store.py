"""The risk-entity store (paper B §3.3): a versioned, audited list of forbidden entities in SQLite.

Every change (one `add`, one `remove`, one whole `import_rows`) is one transaction that makes one new
version and one audit row per entity touched; a failed change leaves the store as it was. Entities
are never deleted: a removal closes the row, so the store can be read as it was at any version
(`entities(version=v)`), and a result records `version` and `digest` to say which list it used.

Concurrent writers are safe: the database runs in WAL mode and each change takes the write lock up
front (`BEGIN IMMEDIATE`), waiting up to `timeout` seconds before it fails with `StoreLocked`.
"""

from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from safealign import io
from safealign.risk.matcher import EntityMatcher, normalise

SCHEMA_VERSION = 1
MAX_ENTITY_CHARS = 80
MAX_TEXT_CHARS = 500
# After normalisation an entity is words (letters, digits) joined by spaces and a little punctuation
# found in names ("al-qaeda" reads "al qaeda", "o'brien", "at&t", "2,4-d"): nothing else.
_ENTITY_OK = re.compile(r"^\w(?:[\w '.&+/,]*\w)?$")
_CATEGORY_OK = re.compile(r"^[a-z0-9][a-z0-9_:.\-]{0,63}$")
FIELDS = ("entity", "category", "source", "reason")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, action TEXT NOT NULL,
    reason TEXT NOT NULL, changes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS entities (
    id INTEGER PRIMARY KEY, entity TEXT NOT NULL, category TEXT NOT NULL, source TEXT NOT NULL,
    added_version INTEGER NOT NULL REFERENCES versions(version), added_reason TEXT NOT NULL,
    removed_version INTEGER REFERENCES versions(version), removed_reason TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS one_active_row ON entities(entity) WHERE removed_version IS NULL;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, version INTEGER NOT NULL REFERENCES versions(version), at TEXT NOT NULL,
    action TEXT NOT NULL, entity TEXT NOT NULL, category TEXT NOT NULL, source TEXT NOT NULL,
    reason TEXT NOT NULL);
"""


class RiskStoreError(ValueError):
    """Bad input or an unusable store file; the message names the entity, field, file or line."""


class StoreLocked(RiskStoreError):
    """Another process held the write lock for longer than the timeout; nothing was changed."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def clean_entity(entity: object, where: str = "entity") -> str:
    if not isinstance(entity, str):
        raise RiskStoreError(f"{where}: an entity must be text, got {type(entity).__name__}")
    norm = normalise(entity).strip()
    if not norm:
        raise RiskStoreError(f"{where}: empty entity")
    if len(norm) > MAX_ENTITY_CHARS:
        raise RiskStoreError(f"{where}: entity of {len(norm)} characters (at most {MAX_ENTITY_CHARS}): {norm[:40]!r}...")
    if not _ENTITY_OK.match(norm):
        bad = sorted({ch for ch in norm if not (ch.isalnum() or ch in " '.&+/,_")})
        raise RiskStoreError(f"{where}: entity {entity!r} has characters an entity may not hold: {bad or 'leading/trailing punctuation'}")
    return norm


def _clean_text(value: object, field: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RiskStoreError(f"{where}: {field} must be non-empty text")
    if len(value) > MAX_TEXT_CHARS or any(_is_control(ch) for ch in value):
        raise RiskStoreError(f"{where}: {field} must be one line of at most {MAX_TEXT_CHARS} characters")
    return value.strip()


def _is_control(ch: str) -> bool:
    return ord(ch) < 32 or ord(ch) == 127


def _clean_category(category: object, where: str) -> str:
    if not isinstance(category, str) or not _CATEGORY_OK.match(category):
        raise RiskStoreError(f"{where}: category {category!r} must be a lower-case slug "
                             "(letters, digits, '_', ':', '.', '-'; at most 64 characters)")
    return category


class RiskStore:
    """A store file at `path` (created on first use)."""

    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            if not self._has_schema():
                with self._write():
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self._db.execute(statement)
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
                raise StoreLocked(f"{self.path}: locked by another writer for over {timeout}s") from err
            raise RiskStoreError(f"{self.path}: not a risk-entity store ({err})") from err
        schema = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
        if schema != str(SCHEMA_VERSION):
            raise RiskStoreError(f"{self.path}: store schema {schema}, this code reads {SCHEMA_VERSION}")
        self._matchers: dict[int, EntityMatcher] = {}

    def _has_schema(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is not None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RiskStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    class _Txn:
        def __init__(self, store: "RiskStore"):
            self.store = store

        def __enter__(self):
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                raise StoreLocked(f"{self.store.path}: locked by another writer for over {self.store.timeout}s; "
                                  "nothing was changed") from err

        def __exit__(self, exc_type, exc, tb):
            self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
            return False

    def _write(self) -> "_Txn":
        return RiskStore._Txn(self)

    def _new_version(self, action: str, reason: str, changes: int) -> int:
        cur = self._db.execute("INSERT INTO versions (at, action, reason, changes) VALUES (?, ?, ?, ?)",
                               (_now(), action, reason, changes))
        return cur.lastrowid

    def _audit(self, version: int, action: str, row: dict, reason: str) -> None:
        self._db.execute("INSERT INTO audit (version, at, action, entity, category, source, reason) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (version, _now(), action, row["entity"], row["category"], row["source"], reason))

    def _active(self, entity: str) -> sqlite3.Row | None:
        return self._db.execute("SELECT * FROM entities WHERE entity=? AND removed_version IS NULL",
                                (entity,)).fetchone()

    def _checked_rows(self, rows: Iterable[dict], where: str, skip_existing: bool) -> list[dict]:
        checked, seen = [], {}
        for i, row in enumerate(rows, 1):
            if not isinstance(row, dict):
                raise RiskStoreError(f"{where} record {i}: expected a record with {FIELDS}, got {type(row).__name__}")
            here = row.get("_where") or f"{where} record {i}"
            missing = [k for k in ("entity", "category", "source", "reason") if row.get(k) in (None, "")]
            if missing:
                raise RiskStoreError(f"{here}: missing {', '.join(missing)}")
            entity = clean_entity(row["entity"], here)
            clean = {"entity": entity, "category": _clean_category(row["category"], here),
                     "source": _clean_text(row["source"], "source", here),
                     "reason": _clean_text(row["reason"], "reason", here)}
            if entity in seen:
                raise RiskStoreError(f"{here}: duplicate of {seen[entity]} ({entity!r})")
            seen[entity] = here
            existing = self._active(entity)
            if existing is not None:
                if skip_existing:
                    continue
                raise RiskStoreError(f"{here}: {entity!r} is already in the store (category {existing['category']}, "
                                     f"version {existing['added_version']}); nothing was changed")
            checked.append(clean)
        return checked

    def add(self, entity: str, category: str, source: str, reason: str) -> int:
        """Add one entity; returns the new version."""
        return self.import_rows([{"entity": entity, "category": category, "source": source, "reason": reason}],
                                where="add", action="add")

    def import_rows(self, rows: Iterable[dict], where: str = "import", skip_existing: bool = False,
                    action: str = "import") -> int:
        """Add many entities as one change: all or none. Returns the new version (the current one if
        `skip_existing` left nothing to add)."""
        with self._write():
            checked = self._checked_rows(list(rows), where, skip_existing)
            if not checked:
                return self.version()
            version = self._new_version(action, checked[0]["reason"] if len(checked) == 1 else f"{action} of {len(checked)} entities", len(checked))
            for row in checked:
                self._db.execute("INSERT INTO entities (entity, category, source, added_version, added_reason) "
                                 "VALUES (?, ?, ?, ?, ?)",
                                 (row["entity"], row["category"], row["source"], version, row["reason"]))
                self._audit(version, action, row, row["reason"])
        return version

    def remove(self, entity: str, reason: str) -> int:
        """Close the active row of `entity`; returns the new version."""
        norm = clean_entity(entity, "remove")
        reason = _clean_text(reason, "reason", "remove")
        with self._write():
            row = self._active(norm)
            if row is None:
                raise RiskStoreError(f"remove: {norm!r} is not in the store (version {self.version()}); nothing was changed")
            version = self._new_version("remove", reason, 1)
            self._db.execute("UPDATE entities SET removed_version=?, removed_reason=? WHERE id=?",
                             (version, reason, row["id"]))
            self._audit(version, "remove", dict(row), reason)
        return version

    # ------------------------------------------------------------------ reading

    def version(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(version), 0) FROM versions").fetchone()[0]

    def _at(self, version: int | None) -> int:
        current = self.version()
        if version is None:
            return current
        if not isinstance(version, int) or not 0 <= version <= current:
            raise RiskStoreError(f"version {version!r}: the store has versions 0..{current}")
        return version

    def entities(self, version: int | None = None, category: str | None = None) -> list[dict]:
        """The entities active at `version` (default: now), sorted by entity."""
        v = self._at(version)
        sql = ("SELECT entity, category, source, added_version, added_reason AS reason FROM entities "
               "WHERE added_version <= ? AND (removed_version IS NULL OR removed_version > ?)")
        args: list = [v, v]
        if category is not None:
            sql += " AND category = ?"
            args.append(category)
        return [dict(r) for r in self._db.execute(sql + " ORDER BY entity", args)]

    def audit(self, limit: int | None = None) -> list[dict]:
        sql = "SELECT version, at, action, entity, category, source, reason FROM audit ORDER BY id DESC"
        rows = self._db.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
        return [dict(r) for r in rows]

    def digest(self, version: int | None = None) -> str:
        """sha256 of the (entity, category) list at `version`: what a result cites."""
        pairs = [[r["entity"], r["category"]] for r in self.entities(version)]
        return hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest()

    def stats(self, version: int | None = None) -> dict:
        v = self._at(version)
        rows = self.entities(v)
        per_category: dict[str, int] = {}
        for r in rows:
            per_category[r["category"]] = per_category.get(r["category"], 0) + 1
        removed = self._db.execute("SELECT COUNT(*) FROM entities WHERE removed_version <= ?", (v,)).fetchone()[0]
        return {"version": v, "digest": self.digest(v), "entities": len(rows), "removed": removed,
                "per_category": dict(sorted(per_category.items())), "path": str(self.path)}

    def matcher(self, version: int | None = None) -> EntityMatcher:
        """An automaton over the entities at `version`, built once per version."""
        v = self._at(version)
        if v not in self._matchers:
            self._matchers[v] = EntityMatcher({r["entity"]: r["category"] for r in self.entities(v)})
        return self._matchers[v]

    # ------------------------------------------------------------------ files

    def import_file(self, path: str | Path, skip_existing: bool = False, source: str | None = None,
                    reason: str | None = None) -> int:
        """Import a CSV (header: entity,category,source,reason) or JSON file (a list of such records,
        or an export). `source` / `reason` fill rows that lack them."""
        rows = read_entity_file(path)
        defaults = {k: v for k, v in (("source", source), ("reason", reason)) if v}
        rows = [{**defaults, **{k: v for k, v in r.items() if v not in (None, "")}} if isinstance(r, dict) else r
                for r in rows]
        return self.import_rows(rows, where=str(path), skip_existing=skip_existing)

    def export(self, path: str | Path, version: int | None = None) -> Path:
        """Write the entities at `version` to `path` (.csv or .json), atomically."""
        path = Path(path)
        v = self._at(version)
        rows = self.entities(v)
        if path.suffix == ".json":
            io.write_json(path, {"store_version": v, "digest": self.digest(v), "entities": rows})
        elif path.suffix == ".csv":
            buffer = _io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=["entity", "category", "source", "reason", "added_version"],
                                    lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            with io.atomic_path(path) as tmp:
                tmp.write_text(buffer.getvalue(), encoding="utf-8")
        else:
            raise RiskStoreError(f"{path}: export writes .csv or .json, not {path.suffix or 'no suffix'!r}")
        return path


def _decoded(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RiskStoreError(f"{path}: no such file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise RiskStoreError(f"{path}:{line}: not UTF-8 (byte 0x{raw[err.start]:02x}); nothing was imported") from None


def read_entity_file(path: str | Path) -> list[dict]:
    path = Path(path)
    if path.suffix not in (".csv", ".json"):
        raise RiskStoreError(f"{path}: import reads .csv or .json, not {path.suffix or 'no suffix'!r}")
    text = _decoded(path)
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RiskStoreError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
        rows = data.get("entities") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise RiskStoreError(f"{path}: expected a list of records or an object with 'entities'")
        return [{**r, "_where": f"{path} record {i}"} if isinstance(r, dict) else r for i, r in enumerate(rows, 1)]
    return list(_csv_rows(path, text))


def _csv_rows(path: Path, text: str) -> Iterator[dict]:
    reader = csv.DictReader(_io.StringIO(text))
    missing = [k for k in ("entity", "category") if k not in (reader.fieldnames or [])]
    if missing:
        raise RiskStoreError(f"{path}:1: header lacks {', '.join(missing)} (has {reader.fieldnames})")
    for row in reader:
        if None in row:
            raise RiskStoreError(f"{path}:{reader.line_num}: more fields than the header names")
        yield {**{k: v for k, v in row.items() if k in FIELDS}, "_where": f"{path}:{reader.line_num}"}
