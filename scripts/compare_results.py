"""List every number in book/results/<profile>/ that differs from another git revision (a rebuild's audit).

    python scripts/compare_results.py --ref b952932 --profile cpu            # every changed number
    python scripts/compare_results.py --ref main --rtol 1e-4 --skip seconds  # ignore timings

Files renamed between the revisions are compared under --rename OLD=NEW (the current name on the right).
Numbers are compared with a relative tolerance; strings and booleans must be equal; keys present on one
side only are listed as added or removed.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def flatten(obj, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: obj}


def at_ref(ref: str, path: str) -> dict | None:
    try:
        text = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except subprocess.CalledProcessError:
        return None
    return json.loads(text)


def differs(a, b, rtol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a != b
    if math.isnan(a) and math.isnan(b):
        return False
    return not math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="git revision to compare against")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--skip", nargs="*", default=[], help="key fragments to ignore (e.g. seconds wall_s)")
    parser.add_argument("--rename", nargs="*", default=[], metavar="OLD=NEW", help="files renamed since --ref")
    args = parser.parse_args(argv)
    renamed = dict(pair.split("=", 1) for pair in args.rename)
    folder = ROOT / "book" / "results" / args.profile
    changed = 0
    for path in sorted(folder.rglob("*.json")):
        rel = str(path.relative_to(folder))
        old_rel = next((old for old, new in renamed.items() if new == rel), rel)
        old = at_ref(args.ref, f"book/results/{args.profile}/{old_rel}")
        if old is None:
            print(f"{rel}: new (absent at {args.ref})")
            continue
        a, b = flatten(old), flatten(json.loads(path.read_text()))
        for key in sorted(set(a) | set(b)):
            if any(s in key for s in args.skip):
                continue
            if key not in b:
                print(f"{rel}: {key}: removed (was {a[key]!r})")
            elif key not in a:
                print(f"{rel}: {key}: added ({b[key]!r})")
            elif differs(a[key], b[key], args.rtol):
                print(f"{rel}: {key}: {a[key]!r} -> {b[key]!r}")
            else:
                continue
            changed += 1
    print(f"{changed} number(s) differ from {args.ref}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
