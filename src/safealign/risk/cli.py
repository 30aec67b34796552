"""`safealign-risk`: keep the risk-entity store.

    safealign-risk --db store.sqlite seed
    safealign-risk add "crystal meth" --category drugs --source "moderator:ana" --reason "seen in answers"
    safealign-risk remove "rubbish" --reason "ordinary word; blocked safe answers"
    safealign-risk list --category drugs [--version 3]
    safealign-risk import entities.csv --reason "review of 2026-12" [--skip-existing]
    safealign-risk export entities.json [--version 3]
    safealign-risk audit [--limit 20]
    safealign-risk stats

The store is `--db`, else `$SAFEALIGN_RISK_STORE`. Errors print one line naming what was wrong and
exit with status 2; a failed command changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from safealign.risk.store import RiskStore, RiskStoreError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="safealign-risk", description="Keep the risk-entity store.")
    p.add_argument("--db", default=os.environ.get("SAFEALIGN_RISK_STORE"),
                   help="store file (default: $SAFEALIGN_RISK_STORE)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for another writer")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add one entity")
    add.add_argument("entity")
    add.add_argument("--category", required=True)
    add.add_argument("--source", required=True)
    add.add_argument("--reason", required=True)
    remove = sub.add_parser("remove", help="remove one entity (kept in the history)")
    remove.add_argument("entity")
    remove.add_argument("--reason", required=True)
    listing = sub.add_parser("list", help="entities at a version (default: now)")
    listing.add_argument("--category")
    listing.add_argument("--version", type=int)
    imp = sub.add_parser("import", help="add the entities of a .csv or .json file, all or none")
    imp.add_argument("file")
    imp.add_argument("--reason", help="for rows without one")
    imp.add_argument("--source", help="for rows without one")
    imp.add_argument("--skip-existing", action="store_true", help="skip entities already in the store")
    exp = sub.add_parser("export", help="write the entities to a .csv or .json file")
    exp.add_argument("file")
    exp.add_argument("--version", type=int)
    audit = sub.add_parser("audit", help="the change log, newest first")
    audit.add_argument("--limit", type=int, default=50)
    sub.add_parser("stats", help="version, digest, counts per category")
    sub.add_parser("seed", help="import the documented seed (HurtLex + curated entities) from the shipped data")
    return p


def _print_rows(rows: list[dict]) -> None:
    for row in rows:
        print("\t".join(str(v) for v in row.values()))


def run(argv: list[str] | None = None) -> dict | list | int:
    args = _parser().parse_args(argv)
    if not args.db:
        raise RiskStoreError("no store given: pass --db PATH or set SAFEALIGN_RISK_STORE")
    with RiskStore(args.db, timeout=args.timeout) as store:
        if args.command == "add":
            return store.add(args.entity, args.category, args.source, args.reason)
        if args.command == "remove":
            return store.remove(args.entity, args.reason)
        if args.command == "list":
            return store.entities(args.version, args.category)
        if args.command == "import":
            return store.import_file(args.file, skip_existing=args.skip_existing, source=args.source, reason=args.reason)
        if args.command == "export":
            store.export(args.file, args.version)
            return store.stats(args.version)
        if args.command == "audit":
            return store.audit(args.limit)
        if args.command == "stats":
            return store.stats()
        if args.command == "seed":
            from safealign.risk.seed import shipped_seed_rows

            rows, _ = shipped_seed_rows()
            return store.import_rows(rows, where="seed", skip_existing=True, action="seed")
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    try:
        out = run(argv)
    except RiskStoreError as err:
        print(f"safealign-risk: error: {err}", file=sys.stderr)
        return 2
    if isinstance(out, int):
        print(f"store version {out}")
    elif isinstance(out, list):
        _print_rows(out)
    else:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
