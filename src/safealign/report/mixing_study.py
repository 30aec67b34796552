"""Paper B's data-study claims (§3.1, §4.1) read off the mixing points, each with a verdict by a stated rule.

    results = load_points(profile, names)                  # book/results/<profile>/mixing/<point>.json
    verdicts = {n: read_verdicts(profile, f"mixing-{n}") for n in results}
    frame = curve_frame(results)                            # one row per point and measure, for the figures
    parts = figure_parts(frame, grid)                       # the rows of Figures 2, 3, 5 and the fine mixtures
    table = claims(verdicts, results, n_boot, seed)         # paper B's sentence, the pair compared, ours, verdict
    scale = against_paper_b(settings.mixing)                # each grid setting's safety:general against paper B's
    rounding_warnings(settings.mixing)                      # where the fine mixture's whole rows distort its ratios

Every claim compares two points that answered the same prompts (the type pools' test prompts, ALERT, GSM8K),
so it is a paired test: the paired bootstrap CI of b − a and McNemar's exact p (`report.paired`); the verdict
rule is `evaluate.paper_b.verdict`'s (reproduced / contradicted only when the CI excludes 0 and p < 0.05,
else unresolved). A claim whose points were not run is listed as "not run", never dropped. A "Holm p" column
adjusts McNemar's p over every tested claim of the table, for the reader who wants the family-wise view.

Every point and claim carries its safety:general ratio ("1:8", "2:1"), read from the rows it was built with:
paper B mixes its safety data into ~260,000 general rows at ratios from 1:260 to about 1:2.6, and a point far
above those ratios tests a different regime than its Figures 2, 3 and 5, whatever the figure it is named after.
"""

from __future__ import annotations

from itertools import combinations
from typing import Mapping, NamedTuple, Sequence

from .. import io
from ..data.mixing import HARM_TYPES, sweep
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


def ratio_text(share: float) -> str:
    """A share of safety rows per general row as paper B writes it: "1:8" below one, "2:1" at or above, "0:1" for
    none; the number whole from 10 up, else with at most one decimal ("1:2.6", "1:21", "1.5:1")."""
    def number(x: float) -> str:
        return f"{x:.0f}" if x >= 9.95 else f"{x:.1f}".removesuffix(".0")

    if share <= 0:
        return "0:1"
    return f"1:{number(1 / share)}" if share < 1 else f"{number(share)}:1"


def ratio(safety: int, general: int) -> str:
    """safety:general of a mixture of `safety` safety rows and `general` general rows ("1:8", "2:1")."""
    return ratio_text(safety / general) if general else f"{safety}:0"


def point_ratios(point: dict) -> dict[str, str]:
    """safety:general of the rows a point was built with (its `built` counts, else its mixture): per harm type
    and over all safety rows ("all"; an unselected draw's rows count by the type each drawn row has)."""
    built = point.get("built") or point["mixture"]
    general = built.get("general", point["mixture"]["general"])
    safety = sum(n for kind, n in built.items() if kind != "general")
    return {**{t: ratio(built.get(t, 0), general) for t in HARM_TYPES}, "all": ratio(safety, general)}


def curve_rows(results: Mapping[str, dict]) -> list[dict]:
    """One row per point and measure: the point's mixture (rows per type, total safety rows, safety:general per
    type and in total as built), the score and its CI."""
    rows = []
    for name, r in results.items():
        mix = r["mixture"]
        built = r.get("built", {})  # the rows actually mixed in, by type (an unselected draw has types too)
        ratios = point_ratios(r)
        base = {"point": name, "figure": r["figure"], "seed": r["seed"], "safety_rows": safety_rows(r),
                **{f"{k}_rows": mix.get(k, 0) for k in ("IHD", "EHD", "MHD", "unselected")},
                **{f"{k}_built": built.get(k, 0) for k in ("IHD", "EHD", "MHD")},
                **{f"{k}:general": ratios[k] for k in HARM_TYPES}, "safety:general": ratios["all"]}
        for measure, _ in MEASURES:
            m = r["alert_s"] if measure == "natural" else r["safety_by_type"][measure]
            rows.append({**base, "measure": measure, "score": m["score"], "ci95": m["ci95"], "n": m["n"]})
        for task, g in sorted(r["general"].items()):
            metric = g.get("metric", "exact_match")
            rows.append({**base, "measure": general_measure(task, metric), "score": g[metric],
                         "ci95": proportion_interval(g[metric], g["n"]), "n": g["n"]})
        for key, label in OVER_REFUSAL:
            if key in r["over_refusal"]:
                over = r["over_refusal"][key]
                rows.append({**base, "measure": label, "score": over["rate"], "ci95": over["ci95"], "n": over["n"]})
    return rows


OVER_REFUSAL = (("xstest_safe", "over-refusal (XSTest safe)"), ("coconot_contrast", "over-refusal (CoCoNot contrast)"))


def general_measure(task: str, metric: str) -> str:
    """A general task's measure name: "GSM8K" (exact match), else the lm-eval task and its metric ("arc_easy acc")."""
    return "GSM8K" if task == "gsm8k" else f"{task} {metric}"


SAFETY_MEASURES = ["IHD", "EHD", "MHD", "natural"]
POINT_COLUMNS = ["point", "figure", "seed", "IHD_rows", "EHD_rows", "MHD_rows", "unselected_rows", "IHD_built",
                 "EHD_built", "MHD_built", "IHD:general", "EHD:general", "MHD:general", "safety:general"]


def _cell(score, lo, hi, n) -> str:
    if score is None:
        return "—"
    return f"{score:.3f} [{lo:.3f}, {hi:.3f}] (n={n})" if lo is not None else f"{score:.3f} (n={n})"


def curve_frame(results: Mapping[str, dict]):
    """curve_rows as a pandas frame, with the CI's ends as columns lo / hi and the printed cell as `value`."""
    import pandas as pd

    frame = pd.DataFrame(curve_rows(results), columns=[*POINT_COLUMNS, "safety_rows", "measure", "score", "ci95", "n"])
    frame["lo"] = [c[0] if c else None for c in frame.ci95]
    frame["hi"] = [c[1] if c else None for c in frame.ci95]
    frame["value"] = [_cell(*v) for v in zip(frame.score, frame.lo, frame.hi, frame.n)]
    return frame


def points_table(frame):
    """One row per point (its mixture and ratios), one column per measure (score, CI, n)."""
    return frame.pivot_table(index=POINT_COLUMNS, columns="measure", values="value", aggfunc="first").reset_index()


def figure_parts(frame, grid: Mapping) -> dict:
    """The rows each of paper B's figures draws: Figure 2 (safety rows grown), Figure 5 (EHD grown at each fixed
    IHD, no MHD), Figure 3 (the same with and without grid['mhd_small'] MHD rows), and the fine-grained vs
    unselected mixtures; each with the column its lines are coloured by."""
    drawn = ~frame.measure.str.startswith("over-refusal")   # safety per type, ALERT S and every general task
    fig2 = frame[(frame.figure == "fig2") & drawn]
    fig3 = frame[(frame.figure == "fig3") & frame.measure.isin(["IHD", "EHD"])].copy()
    fig3["curve"] = [f"{m} safety, IHD={i}" for m, i in zip(fig3.measure, fig3.IHD_rows)]
    fig3["MHD"] = "MHD " + fig3.MHD_rows.astype(str)
    fine = frame[frame.figure.isin(["fine", "unselected"]) & drawn].copy()
    fine["mixture"] = fine.point.str.rsplit("-s", n=1).str[0]
    return {"fig2": fig2, "fig5": fig3[fig3.MHD_rows == 0], "fig3": fig3[fig3.IHD_rows.isin(grid["mhd_at_ihd"])],
            "fine": fine}


def fine_figure(fine):
    """Bars of the fine-grained and unselected mixtures per measure, one facet per seed, with 95% CIs (None when
    no such point ran)."""
    from .. import viz

    if fine.empty:
        return None
    return viz.px.bar(fine, x="measure", y="score", color="mixture", barmode="group", facet_col="seed",
                      template=viz.TEMPLATE, error_y=fine.hi - fine.score, error_y_minus=fine.score - fine.lo,
                      title="Fine-grained vs unselected mixtures, 95% CIs, per seed")


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
         "b": f"fig2-{levels[-1]}", "measures": ["IHD"], "paper B": "IHD improves significantly, then approaches a decently good level (Fig. 2's values are not "
                      "printed; the 0.95 of §3.1 is its 72B model)"},
        {"claim": "more safety data keeps raising EHD safety (Fig. 2)", "a": f"fig2-{levels[0]}",
         "b": f"fig2-{levels[-1]}", "measures": ["EHD"], "paper B": "EHD rises gradually, still < 0.8 at 72B"},
        {"claim": "IHD saturates: the last step of safety data adds nothing on IHD (Fig. 2)", "a": f"fig2-{levels[-2]}",
         "b": f"fig2-{levels[-1]}", "measures": ["IHD"], "expected": 0,
         "paper B": "further data contributes negligibly to IHD"},
        {"claim": "EHD keeps rising over the last step of safety data (Fig. 2)", "a": f"fig2-{levels[-2]}",
         "b": f"fig2-{levels[-1]}", "measures": ["EHD"], "paper B": "EHD still ascending"},
    ]
    out.append({"claim": "general capability suffers as safety data grows (Fig. 2; GSM8K, the one general task "
                         "answered per item)", "a": f"fig2-{levels[0]}", "b": f"fig2-{levels[-1]}",
                "measures": ["GSM8K"], "expected": -1,
                "paper B": "general capabilities tend to suffer continuously as safety data increases"})
    ihd = sorted(grid["fig3_ihd"])
    top = f"-ehd{ehd[-1]}"
    out.append({"claim": f"more IHD raises safety up to the middle IHD level (Figs. 3a-b, EHD = {ehd[-1]})",
                "a": f"fig3-ihd{ihd[0]}{top}", "b": f"fig3-ihd{ihd[1]}{top}", "measures": ["IHD", "natural"],
                "paper B": "IHD helps up to ~3,000 rows (of its 1,000 / 3,000 / 10,000)"})
    out.append({"claim": f"IHD saturates: more IHD beyond the middle level adds nothing (Figs. 3b-c, EHD = {ehd[-1]})",
                "a": f"fig3-ihd{ihd[1]}{top}", "b": f"fig3-ihd{ihd[-1]}{top}", "measures": ["IHD", "natural"],
                "expected": 0, "paper B": "additional IHD shows less significant gains after reaching 3,000 records"})
    for ihd in grid["fig3_ihd"]:
        out.append({"claim": f"adding EHD raises IHD and EHD safety at IHD = {ihd} (Fig. 5: facts and intent reinforce)",
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
                                     f"data, with less loss of general ability (GSM8K) (seed {seed})",
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


def ratios_moved(results: Mapping[str, dict], a: str, b: str, measure: str) -> str:
    """safety:general behind a comparison, counted as `rows_moved` counts (the measure's type, else all safety
    data), in point a and point b ("?" for a point not run)."""
    key = measure if measure in HARM_TYPES else "all"
    at = lambda name: point_ratios(results[name])[key] if name in results else "?"  # noqa: E731
    return f"{at(a)} → {at(b)}"


def claims(verdicts: Mapping[str, Sequence[dict]], results: Mapping[str, dict], grid: Mapping, n_boot: int,
           seed: int) -> list[dict]:
    """Each comparison of `comparisons` on each of its measures: ours (paired b − a) and the verdict.

    Expected sign +1: the stated rule of `paper_b.verdict`. Expected 0 ("no gain", "at least as safe"): the
    claim is contradicted when the difference is resolved against it (b significantly below a; for saturation,
    significantly above), else "not contradicted" -- a weaker finding, said as such."""
    out = []
    # a fine mixture off paper B's ratios (rounding, a short pool) tests them only in part: its claims say where
    off = [f"{r['setting']} is {r['safety:general']}, {r['where']}" for r in against_paper_b(grid)
           if r["setting"].startswith("fine.") and r["where"] != "within"]
    for c in comparisons(results, grid):
        paper = c["paper B"] + (f" [here {'; '.join(off)}]" if off and c["b"].startswith("fine-") else "")
        for measure in c["measures"]:
            row = {"claim (paper B §3.1, §4.1)": c["claim"], "paper B": paper, "a": c["a"], "b": c["b"],
                   "measure": measure, "safety rows a → b": rows_moved(results, c["a"], c["b"], measure),
                   "safety:general a → b": ratios_moved(results, c["a"], c["b"], measure)}
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


PAPER_B_GENERAL = 260_000   # general-domain rows in each of paper B's mixtures (§3.1, Fig. 2's caption; §4.1)


class PaperBRange(NamedTuple):
    """The safety:general ratios paper B studies for one setting of `mixing.grid`, as shares of the general rows."""
    harm_type: str           # "IHD" / "EHD" / "MHD", or "all" for safety data of every type
    low: float
    high: float
    source: str


# Figure 2's levels are not given in the text: §4.1 needs "a minimum of 50,000" for its best safety and Figure 5 grows
# EHD to 100,000, so its top is taken as 100,000 (the generous end: a point above it is above paper B's whole range).
PAPER_B_RANGES = {
    "fig2_levels": PaperBRange("all", 0, 100_000 / PAPER_B_GENERAL,
                               "§3.1, Fig. 2: safety data grown to ~50,000-100,000 of ~260,000 general rows"),
    "fig3_ihd": PaperBRange("IHD", 1_000 / PAPER_B_GENERAL, 10_000 / PAPER_B_GENERAL,
                            "§4.1, Figs. 3 and 5: IHD fixed at 1,000, 3,000 and 10,000 rows"),
    "fig3_ehd": PaperBRange("EHD", 0, 100_000 / PAPER_B_GENERAL, "§4.1, Fig. 5: EHD grown from 0 to 100,000 rows"),
    "mhd_small": PaperBRange("MHD", 1 / 100, 1 / 100, "§4.1, Fig. 3d: 'a small volume of MHD'; its summary: 1:100"),
    "fine.IHD": PaperBRange("IHD", 1 / 100, 1 / 50, "§4.1's summary: IHD at 1:100 to 1:50 of the general data"),
    "fine.EHD": PaperBRange("EHD", 1 / 30, 1 / 20, "§4.1's summary: EHD at 1:30 to 1:20 of the general data"),
    "fine.MHD": PaperBRange("MHD", 1 / 100, 1 / 100, "§4.1's summary: MHD at 1:100 of the general data"),
}


def _grid(mixing: Mapping) -> dict:
    """The plain grid of the profile's `mixing` section (MixingSettings), or of a grid given as such."""
    grid = mixing["grid"] if "grid" in mixing else mixing
    return grid.to_dict() if hasattr(grid, "to_dict") else dict(grid)


def fine_rows(mixing: Mapping) -> dict[str, int]:
    """The fine-grained mixture's rows per type, as `data.mixing.sweep` rounds `fine` x general to whole rows."""
    return dict(next(p for p in sweep(_grid(mixing)) if p.figure == "fine").safety)


def _rounding(grid: dict) -> list[tuple[set[str], str]]:
    """(types named, warning) for each distortion `rounding_warnings` describes."""
    built, general, fine = fine_rows(grid), grid["general"], grid["fine"]
    out = [({t}, f"fine.{t} = {fine[t]:g} of {general} general rows is {general * fine[t]:.2f} rows: it rounds to 0 "
                 f"and is clamped to 1 row ({ratio(1, general)} instead of {ratio_text(fine[t])})")
           for t in HARM_TYPES if round(general * fine[t]) < 1]
    out += [({a, b}, f"fine.{a} = {fine[a]:g} and fine.{b} = {fine[b]:g} both give {built[a]} row(s) of {general} "
                     f"general rows: the mixture holds as much {a} as {b}")
            for a, b in combinations(HARM_TYPES, 2) if built[a] == built[b] and fine[a] != fine[b]]
    return out


def rounding_warnings(mixing: Mapping) -> list[str]:
    """Where rounding the fine mixture to whole rows distorts paper B's ratios: a type whose share of the general
    pool rounds to no row, clamped to one; two types of different ratios that come out as the same count."""
    return [warning for _, warning in _rounding(_grid(mixing))]


ROUNDING_SLACK = 1.05   # a level within 5% of paper B's bound is "within": whole rows cannot hit its ratio exactly


def position(share: float, paper: PaperBRange) -> str:
    """Where a share of the general rows sits against paper B's range: "within" (up to ROUNDING_SLACK outside
    it), or how many times above its highest or below its lowest ratio."""
    if share > paper.high * ROUNDING_SLACK:
        return f"{share / paper.high:.1f}× above paper B's highest"
    if share < paper.low / ROUNDING_SLACK:
        return f"{paper.low / share:.1f}× below paper B's lowest" if share else "none: below paper B's lowest"
    return "within"


def _levels(grid: dict) -> list[tuple[str, int]]:
    """(setting, rows) for every safety level of the grid, the fine mixture as rounded to whole rows."""
    fine = fine_rows(grid)
    return ([("fig2_levels", n) for n in grid["fig2_levels"]] + [("fig3_ihd", n) for n in grid["fig3_ihd"]]
            + [("fig3_ehd", n) for n in grid["fig3_ehd"]] + [("mhd_small", grid["mhd_small"])]
            + [(f"fine.{t}", fine[t]) for t in HARM_TYPES])


def against_paper_b(mixing: Mapping) -> list[dict]:
    """Each safety level of the profile's mixing grid (its `mixing` section, or the grid) against the ratios paper B
    studies: the level's safety:general, paper B's range and source, where the level sits, and for the fine mixture
    the rounding warnings that name its type."""
    grid = _grid(mixing)
    general, warnings = grid["general"], _rounding(grid)
    rows = []
    for setting, n in _levels(grid):
        paper = PAPER_B_RANGES[setting]
        span = ratio_text(paper.low) + ("" if paper.low == paper.high else f" to {ratio_text(paper.high)}")
        rounding = [w for types, w in warnings if setting.startswith("fine.") and paper.harm_type in types]
        rows.append({"setting": setting, "type": paper.harm_type, "rows": n, "general": general,
                     "safety:general": ratio(n, general), "paper B": span, "where": position(n / general, paper),
                     "paper B's source": paper.source, "rounding": "; ".join(rounding)})
    return rows


def placement_summary(rows: Sequence[dict]) -> str:
    """One sentence over `against_paper_b`'s rows: how many levels sit outside paper B's ranges, of which settings."""
    outside = [r for r in rows if r["where"] != "within"]
    if not outside:
        return f"all {len(rows)} safety levels of the grid sit within paper B's ratio ranges"
    settings = ", ".join(dict.fromkeys(r["setting"] for r in outside))
    return f"{len(outside)} of {len(rows)} safety levels of the grid sit outside paper B's ratio ranges ({settings})"
