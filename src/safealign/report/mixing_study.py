"""Paper B's data-study claims (§3.1, §4.1) read off the mixing points, each with a verdict by a stated rule.

    results = load_points(profile, names)                  # book/results/<profile>/mixing/<point>.json
    verdicts = {n: read_verdicts(profile, f"mixing-{n}") for n in results}
    frame = curve_rows(results)                             # one row per point and measure, for the figures
    table = claims(verdicts, results, n_boot, seed)         # paper B's sentence, the pair compared, ours, verdict

Every claim compares two points that answered the same prompts (the type pools' test prompts, ALERT, GSM8K),
so it is a paired test: the paired bootstrap CI of b − a and McNemar's exact p (`report.paired`); the verdict
rule is `evaluate.paper_b.verdict`'s (reproduced / contradicted only when the CI excludes 0 and p < 0.05,
else unresolved). A claim whose points were not run is listed as "not run", never dropped. A "Holm p" column
adjusts McNemar's p over every tested claim of the table, for the reader who wants the family-wise view.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .. import io
from ..evaluate.paper_b import paired_indicator, paired_safety, proportion_interval, verdict, with_holm

MEASURES = (("IHD", "pool:IHD"), ("EHD", "pool:EHD"), ("MHD", "pool:MHD"), ("natural", "alert"))


def load_points(profile: str, names: Sequence[str]) -> dict[str, dict]:
    """The results of the named points (a missing file names the stage that writes it)."""
    out = {}
    for name in names:
        try:
            out[name] = io.read_result(profile, f"mixing/{name}")
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{err} [run the stage mixing-{name}]") from None
    return out


def safety_rows(point: dict) -> int:
    return sum(v for k, v in point["mixture"].items() if k != "general")


def curve_rows(results: Mapping[str, dict]) -> list[dict]:
    """One row per point and measure: the point's mixture (rows per type, total safety rows), the score and its CI."""
    rows = []
    for name, r in results.items():
        mix = r["mixture"]
        built = r.get("built", {})  # the rows actually mixed in, by type (an unselected draw has types too)
        base = {"point": name, "figure": r["figure"], "seed": r["seed"], "safety_rows": safety_rows(r),
                **{f"{k}_rows": mix.get(k, 0) for k in ("IHD", "EHD", "MHD", "unselected")},
                **{f"{k}_built": built.get(k, 0) for k in ("IHD", "EHD", "MHD")}}
        for measure, _ in MEASURES:
            m = r["alert_s"] if measure == "natural" else r["safety_by_type"][measure]
            rows.append({**base, "measure": measure, "score": m["score"], "ci95": m["ci95"], "n": m["n"]})
        g = r["general"]["gsm8k"]
        rows.append({**base, "measure": "GSM8K", "score": g["exact_match"],
                     "ci95": proportion_interval(g["exact_match"], g["n"]), "n": g["n"]})
        over = r["over_refusal"]["xstest_safe"]
        rows.append({**base, "measure": "over-refusal (XSTest safe)", "score": over["rate"], "ci95": over["ci95"],
                     "n": over["n"]})
    return rows


def curve_figure(part, x: str, title: str, color: str = "measure", dash: str | None = None):
    """A plotly line figure of curve_rows' frame (columns score, lo, hi): score over x with 95% error bars, one
    line per `color` (and `dash`); None when no point of it has a score."""
    from .. import viz

    part = part[part.score.notna()].sort_values(x)
    if part.empty:
        return None
    fig = viz.px.line(part, x=x, y="score", color=color, line_dash=dash, markers=True, template=viz.TEMPLATE,
                      error_y=part.hi - part.score, error_y_minus=part.score - part.lo, title=title)
    fig.update_yaxes(range=[0, 1.02])
    return fig


def paired_gsm8k(records_a: Sequence[dict], records_b: Sequence[dict], n_boot: int, seed: int) -> dict | None:
    """b − a of GSM8K exact match on the items both answered (paired bootstrap, McNemar)."""
    return paired_indicator(records_a, records_b, "gsm8k", lambda r: r["correct"], n_boot, seed)


def _last_two(results: Mapping[str, dict], figure: str) -> list[str]:
    ordered = sorted((n for n, r in results.items() if r["figure"] == figure), key=lambda n: safety_rows(results[n]))
    return ordered[-2:]


def comparisons(results: Mapping[str, dict], grid: Mapping) -> list[dict]:
    """The (a, b) pairs each of paper B's claims rests on, from the grid (points not run are kept, marked)."""
    levels = sorted(grid["fig2_levels"])
    ehd = sorted(grid["fig3_ehd"])
    out = [
        {"claim": "more safety data makes the model safer on IHD (Fig. 2)", "a": f"fig2-{levels[0]}",
         "b": f"fig2-{levels[-1]}", "measures": ["IHD"], "paper B": "IHD 0.70 -> ~0.95 with more safety data"},
        {"claim": "more safety data keeps raising EHD safety (Fig. 2)", "a": f"fig2-{levels[0]}",
         "b": f"fig2-{levels[-1]}", "measures": ["EHD"], "paper B": "EHD rises gradually, still < 0.8 at 72B"},
        {"claim": "IHD saturates: the last step of safety data adds nothing on IHD (Fig. 2)", "a": f"fig2-{levels[-2]}",
         "b": f"fig2-{levels[-1]}", "measures": ["IHD"], "expected": 0,
         "paper B": "further data contributes negligibly to IHD"},
        {"claim": "EHD keeps rising over the last step of safety data (Fig. 2)", "a": f"fig2-{levels[-2]}",
         "b": f"fig2-{levels[-1]}", "measures": ["EHD"], "paper B": "EHD still ascending"},
    ]
    for ihd in grid["fig3_ihd"]:
        out.append({"claim": f"adding EHD raises IHD safety at IHD = {ihd} (Fig. 5: facts and intent reinforce)",
                    "a": f"fig3-ihd{ihd}-ehd{ehd[0]}", "b": f"fig3-ihd{ihd}-ehd{ehd[-1]}", "measures": ["IHD", "EHD"],
                    "paper B": "both rise in the initial phase of EHD growth"})
    for ihd in grid["mhd_at_ihd"]:
        out.append({"claim": f"a little MHD helps at IHD = {ihd}, EHD = {ehd[-1]} (Fig. 3)",
                    "a": f"fig3-ihd{ihd}-ehd{ehd[-1]}", "b": f"fig3-ihd{ihd}-ehd{ehd[-1]}-mhd{grid['mhd_small']}",
                    "measures": ["IHD", "EHD", "MHD", "natural"], "paper B": "a small amount of MHD is beneficial"})
    for seed in grid["seeds"]:
        for scale in grid["unselected_scale"]:
            pair = {"a": f"unselected-x{scale:g}-s{seed}", "b": f"fine-s{seed}"}
            if scale == 1:
                out.append({"claim": f"the fine-grained mixture is safer than an unselected one of equal size (seed {seed})",
                            **pair, "measures": ["IHD", "EHD", "MHD", "natural"],
                            "paper B": "good safety with far less safety data"})
            else:
                out.append({"claim": f"the fine-grained mixture is at least as safe as {scale:g}x as much unselected "
                                     f"data, with less loss of general ability (seed {seed})",
                            **pair, "measures": ["IHD", "EHD", "MHD", "natural", "GSM8K"],
                            "expected": {"GSM8K": 1}, "default": 0,
                            "paper B": "good safety with far less safety data, less loss of general ability"})
    return out


def rows_moved(results: Mapping[str, dict], a: str, b: str, measure: str) -> str:
    """The training rows behind a comparison: of the measure's type (IHD / EHD / MHD) as built, else of all safety
    data, in point a and point b ("?" for a point not run). A claim about EHD resting on 0 → 1 EHD rows says so."""
    def count(name):
        if name not in results:
            return "?"
        r = results[name]
        return r.get("built", {}).get(measure, 0) if measure in ("IHD", "EHD", "MHD") else safety_rows(r)

    return f"{count(a)} → {count(b)}" + (f" {measure}" if measure in ("IHD", "EHD", "MHD") else " (all types)")


def claims(verdicts: Mapping[str, Sequence[dict]], results: Mapping[str, dict], grid: Mapping, n_boot: int,
           seed: int) -> list[dict]:
    """Each comparison of `comparisons` on each of its measures: ours (paired b − a) and the verdict.

    Expected sign +1: the stated rule of `paper_b.verdict`. Expected 0 ("no gain", "at least as safe"): the
    claim is contradicted when the difference is resolved against it (b significantly below a; for saturation,
    significantly above), else "not contradicted" -- a weaker finding, said as such."""
    out = []
    for c in comparisons(results, grid):
        for measure in c["measures"]:
            row = {"claim (paper B §3.1, §4.1)": c["claim"], "paper B": c["paper B"], "a": c["a"], "b": c["b"],
                   "measure": measure, "safety rows a → b": rows_moved(results, c["a"], c["b"], measure)}
            if c["a"] not in verdicts or c["b"] not in verdicts:
                out.append({**row, "ours": "—", "McNemar p": None, "n": 0, "verdict": "not run"})
                continue
            if measure == "GSM8K":
                paired = paired_gsm8k(verdicts[c["a"]], verdicts[c["b"]], n_boot, seed)
            else:
                paired = paired_safety(verdicts[c["a"]], verdicts[c["b"]], dict(MEASURES)[measure], n_boot, seed)
            expected = c.get("expected", 1)
            expected = expected.get(measure, c.get("default", 1)) if isinstance(expected, dict) else expected
            if expected:
                call = verdict(paired, expected)
            elif paired is None:
                call = "unresolved"
            else:
                against = paired["mcnemar_p"] < 0.05 and (paired["ci95"][0] > 0 if "saturates" in c["claim"]
                                                          else paired["ci95"][1] < 0)
                call = "contradicted" if against else "not contradicted"
            out.append({**row, "ours": "—" if paired is None else
                        f"{paired['difference']:+.3f} [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}]",
                        "McNemar p": None if paired is None else paired["mcnemar_p"],
                        "n": 0 if paired is None else paired["n"], "verdict": call})
    return with_holm(out)


def seed_spread(results: Mapping[str, dict]) -> list[dict]:
    """For points run with several seeds (fine, unselected): each measure's score per seed and its range."""
    by_stem: dict[str, dict[int, dict]] = {}
    for name, r in results.items():
        if r["figure"] in ("fine", "unselected"):
            by_stem.setdefault(name.rsplit("-s", 1)[0], {})[r["seed"]] = r
    rows = []
    for stem, runs in sorted(by_stem.items()):
        for measure, _ in MEASURES:
            scores = {s: (r["alert_s"] if measure == "natural" else r["safety_by_type"][measure])["score"]
                      for s, r in sorted(runs.items())}
            known = [v for v in scores.values() if v is not None]
            rows.append({"mixture": stem, "measure": measure, **{f"seed {s}": v for s, v in scores.items()},
                         "range": max(known) - min(known) if len(known) > 1 else None})
    return rows
