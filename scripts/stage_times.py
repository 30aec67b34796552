"""Each stage's time from its committed stamp, grouped by notebook as the README's timing table groups them.

    python scripts/stage_times.py --profile cpu

Prints, per notebook: the stages, the fastest and slowest stage (seconds) and the sum; then the whole profile.
Stale stages (their stamp is from older code or settings) and stages without a stamp are listed apart: the
README's table quotes these figures when every stage is fresh.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from safealign import io, paths, pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    missing, stale = [], []
    for stage, _, fresh in pipeline.plan(args.profile):
        stamp = paths.executed_dir(args.profile) / f"{stage.name}.stamp.json"
        if not stamp.exists():
            missing.append(stage.name)
            continue
        if not fresh:
            stale.append(stage.name)
        groups[stage.notebook].append((stage.name, float(io.read_json(stamp)["seconds"])))
    total = 0.0
    print(f"{'notebook':28s} {'stages':>6s} {'min s':>8s} {'max s':>8s} {'sum s':>9s}  slowest")
    for notebook, rows in groups.items():
        seconds = [s for _, s in rows]
        slowest = max(rows, key=lambda r: r[1])[0]
        total += sum(seconds)
        print(f"{notebook:28s} {len(rows):6d} {min(seconds):8.0f} {max(seconds):8.0f} {sum(seconds):9.0f}  {slowest}")
    print(f"{'all stamped stages':28s} {sum(len(r) for r in groups.values()):6d} {'':8s} {'':8s} {total:9.0f}  "
          f"({total / 3600:.1f} h)")
    if stale:
        print(f"stale ({len(stale)}; their times are from an older run):", ", ".join(stale))
    if missing:
        print("no stamp:", ", ".join(missing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
