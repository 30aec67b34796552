"""Cost of one point of paper B's data study on this machine (prints figures, asserts nothing).

Trains one mixture (SFT, LoRA, the profile's `mixing` recipe) from the type-pools stage's train pools and the
general pool, then runs paper B's evaluation of it (`paper_b_eval`), and prints the seconds of each part and
what the whole sweep of the profile's grid would take at that speed.

    python scripts/bench_mixing_point.py --profile cpu --mixture general=256,IHD=32,MHD=16,EHD=3
    python scripts/bench_mixing_point.py --profile cpu --point fig2-16 --skip-eval
"""

from __future__ import annotations

import argparse
import json
import time

from safealign import profiles, runtime
from safealign.align import mixture
from safealign.data import mixing, paper_b_sources, pools  # noqa: F401  (paper_b_sources registers the CoCoNot sets)
from safealign.evaluate import paper_b
from safealign.judges import label_sources  # noqa: F401  (registers CoCoNot's contrast set)


def parse_mixture(text: str, seed: int) -> mixing.MixturePoint:
    counts = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key not in ("general", *mixing.HARM_TYPES, mixing.UNSELECTED) or not value.isdigit():
            raise SystemExit(f"--mixture: bad entry {part!r} (want general=N,IHD=N,EHD=N,MHD=N)")
        counts[key] = int(value)
    general = counts.pop("general", 0)
    return mixing.MixturePoint("bench", "bench", general, counts, seed)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--point", help="a point of the profile's grid (data.mixing.sweep)")
    ap.add_argument("--mixture", help="general=N,IHD=N,EHD=N,MHD=N instead of a grid point")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-eval", action="store_true")
    args = ap.parse_args(argv)
    settings = profiles.load(args.profile)
    runtime.setup(settings)
    grid = mixing.sweep(settings.mixing.grid)
    if args.mixture:
        point = parse_mixture(args.mixture, args.seed)
    else:
        by_name = {p.name: p for p in grid}
        if args.point not in by_name:
            raise SystemExit(f"--point {args.point!r}: the grid has {list(by_name)}")
        point = by_name[args.point]
    test = {t: pools.type_pool(settings, t, "test") for t in mixing.HARM_TYPES}
    held_out = mixture.held_out_prompts(test)
    start = time.perf_counter()
    rows = mixture.mixture_rows(settings, point, held_out)
    build_s = time.perf_counter() - start
    run = mixture.train_point(settings, point, rows)
    r = run.result
    print(f"point {point.name}: {r['rows']} rows {mixing.counts(rows)}; built in {build_s:.1f} s; "
          f"trained {r['steps']} steps in {r['wall_s']} s ({r['tokens_seen']} tokens, "
          f"{(r['tokens_seen'] or 0) / max(r['wall_s'], 1e-9):.0f} tokens/s), train loss {r['train_loss']:.3f}", flush=True)
    per_row_s = r["wall_s"] / max(r["rows"], 1)
    eval_s = None
    if not args.skip_eval:
        start = time.perf_counter()
        name = f"bench-{point.name}"
        result, _ = paper_b.evaluate_policy(settings, name, paper_b.folder_backend(settings, name, run.policy_dir), test)
        eval_s = time.perf_counter() - start
        print(f"evaluation: {eval_s:.0f} s", flush=True)
        print(json.dumps({k: result[k] for k in ("safety_by_type", "alert_s", "over_refusal", "general", "diversity")},
                         indent=1, default=str))
    total_rows = sum(p.general + p.safety_rows for p in grid)
    train_total = per_row_s * total_rows
    print(f"the grid: {len(grid)} points, {total_rows} training rows in all; at {per_row_s:.2f} s per row training "
          f"takes {train_total / 3600:.2f} h" + (f", evaluation {len(grid) * eval_s / 3600:.2f} h more" if eval_s else ""))


if __name__ == "__main__":
    main()
