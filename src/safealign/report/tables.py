"""Tables and figures of the results chapter (notebook 06) and of each model's evaluation (notebook 05),
built from whatever book/results/<profile>/{eval,align}/*.json exist."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import evaluate, io, paths, viz
from . import paper_a

OVERALL_S = "Overall Safety Score S"
OVERALL_ASR = "Overall ASR Score"


def expected_models() -> list[str]:
    from .. import align

    return ["base"] + list(align.METHODS)


def load_dir(profile: str, kind: str) -> dict[str, dict]:
    """{name: result} of book/results/<profile>/<kind>/*.json, in the book's model order."""
    folder = paths.results_dir(profile) / kind
    found = {p.stem: io.read_json(p) for p in sorted(folder.glob("*.json"))} if folder.exists() else {}
    order = {m: i for i, m in enumerate(expected_models())}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def missing(profile: str) -> dict[str, list[str]]:
    """Which models have no evaluation / alignment result yet (and the stages that would write them)."""
    evals, aligns = load_dir(profile, "eval"), load_dir(profile, "align")
    return {"eval": [f"eval-{m}" for m in expected_models() if m not in evals],
            "align": [f"align-{m}" for m in expected_models()[1:] if m not in aligns]}


def _pct(x: float) -> float:
    return round(100 * x, 2)


def _with_ci(value: float, ci: list[float]) -> str:
    return f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


# ---------------------------------------------------------------------------------------------
# Tables 2-5


def safety_table(evals: dict[str, dict], ci: bool = True) -> pd.DataFrame:
    """Table 2's layout: S (%) per macro category and overall, one column per model."""
    cols = {}
    for name, res in evals.items():
        s = res["safety_score"]
        col = {m: (_with_ci(v["score"], v["ci95"]) if ci else _pct(v["score"])) for m, v in s["by_macro"].items()}
        col[OVERALL_S] = _with_ci(s["overall"], s["ci95"]) if ci else _pct(s["overall"])
        cols[evaluate.model_label(name)] = col
    return pd.DataFrame(cols, index=list(evaluate.MACRO_CATEGORIES) + [OVERALL_S])


def asr_table(evals: dict[str, dict], ci: bool = True) -> pd.DataFrame:
    """Table 4's layout: ASR (%) per attack and overall, one column per model."""
    cols = {}
    for name, res in evals.items():
        a = res["asr"]
        col = {evaluate.ATTACKS[k]: (_with_ci(v["score"], v["ci95"]) if ci else _pct(v["score"]))
               for k, v in a["by_attack"].items()}
        col[OVERALL_ASR] = _with_ci(a["overall"], a["ci95"]) if ci else _pct(a["overall"])
        cols[evaluate.model_label(name)] = col
    return pd.DataFrame(cols, index=list(evaluate.ATTACKS.values()) + [OVERALL_ASR])


def fine_category_table(evals: dict[str, dict]) -> pd.DataFrame:
    """S (%) per ALERT fine category (32 rows), one column per model, with the evaluated n."""
    rows = {}
    for name, res in evals.items():
        for cat, v in res["safety_score"]["by_category"].items():
            rows.setdefault(cat, {"macro": evaluate.macro_category(cat), "n": v["n"]})
            rows[cat][evaluate.model_label(name)] = _pct(v["score"])
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def seed_table(table: dict, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(table, index=columns).T


# ---------------------------------------------------------------------------------------------
# Figure 6


def toxicity_frame(evals: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, res in evals.items():
        for system, per in res["toxicity"].items():
            for subset, short in evaluate.TOXICITY_SUBSETS.items():
                if subset in per:
                    for metric in ("expected_max", "average"):
                        rows.append({"model": evaluate.model_label(name), "system": system, "subset": short,
                                     "metric": metric, "value": per[subset][metric],
                                     "n_prompts": per[subset]["n_prompts"], "n": per[subset]["n_generations"]})
    return pd.DataFrame(rows)


def toxicity_heatmaps(evals: dict[str, dict], title: str = "Toxicity (Figure 6 layout)") -> go.Figure:
    """Four heatmaps: E[max_tox] and avg_tox under the benign and the adversarial system prompt."""
    frame = toxicity_frame(evals)
    panels = [("expected_max", "benign"), ("expected_max", "adversarial"), ("average", "benign"), ("average", "adversarial")]
    # paper A's E[max_tox] is over 25 samples a prompt; the expected maximum grows with the samples drawn
    samples = sorted({int(n // p) for n, p in zip(frame.n, frame.n_prompts) if p}) if not frame.empty else []
    over = f" over {'/'.join(map(str, samples))} samples" if samples else ""
    names = {"expected_max": f"E[max_tox]{over}", "average": "avg_tox"}
    title += toxicity_scorer_note(evals)
    fig = make_subplots(rows=2, cols=2, subplot_titles=[f"({'abcd'[i]}) {names[m]}, {s} system prompt"
                                                        for i, (m, s) in enumerate(panels)],
                        horizontal_spacing=0.12, vertical_spacing=0.18)
    if frame.empty:
        return fig.update_layout(title=title + ": no evaluation results yet", template=viz.TEMPLATE)
    models = list(dict.fromkeys(frame.model))
    for i, (metric, system) in enumerate(panels):
        part = frame[(frame.metric == metric) & (frame.system == system)]
        grid = part.pivot(index="model", columns="subset", values="value").reindex(
            index=models, columns=list(evaluate.TOXICITY_SUBSETS.values()))
        fig.add_trace(go.Heatmap(z=grid.values, x=grid.columns, y=grid.index, colorscale="Reds", zmin=0, zmax=1,
                                 text=np.round(grid.values, 2), texttemplate="%{text}", showscale=i == 0),
                      row=i // 2 + 1, col=i % 2 + 1)
    fig.update_layout(title=title, template=viz.TEMPLATE, height=300 + 45 * len(models))
    return fig


# ---------------------------------------------------------------------------------------------
# Table 6, over-refusal, Pareto, cost


def general_table(evals: dict[str, dict]) -> pd.DataFrame:
    """Headline metric per general task (rows = models), the Table 6 tasks first."""
    rows = {}
    for name, res in evals.items():
        rows[evaluate.model_label(name)] = {task: round(v[v["metric"]], 3) for task, v in res["general"].items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    first = [t for t in paper_a.TABLE6_TASKS if t in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def general_sizes(evals: dict[str, dict]) -> pd.DataFrame:
    """Items scored and metric per task (the same for every model of a profile)."""
    res = next(iter(evals.values()))
    return pd.DataFrame({t: {"metric": v["metric"], "n": v["n"]} for t, v in res["general"].items()}).T


def table6_beside(evals: dict[str, dict]) -> pd.DataFrame:
    ours = general_table(evals).rename(columns=paper_a.TABLE6_TASKS)
    ours = ours[[c for c in paper_a.TABLE6_COLUMNS if c in ours.columns]].rename(columns=paper_a.OURS_DIFFER)
    seed = pd.DataFrame(paper_a.TABLE6, index=paper_a.TABLE6_COLUMNS).T
    return pd.concat({"ours": ours, "paper A (Falcon 11B)": seed}, axis=1)


def refusal_table(evals: dict[str, dict]) -> pd.DataFrame:
    """Refusal rates per model (refused or partial, with 95% CIs): on ALERT and adversarial ALERT (weighted by
    category / attack like S and ASR: how often the model refuses harmful requests) and on XSTest's safe
    prompts (over-refusal). Beside S, they tell safety by refusing from safety by answering harmlessly."""
    def rate(section: dict | None) -> str:
        if not section:
            return "—"
        value = section.get("overall", section.get("rate"))
        return _with_ci(value, section["ci95"])

    return pd.DataFrame({
        evaluate.model_label(n): {
            "ALERT refused (%)": rate(r["safety_score"].get("refusal_rate")),
            "adversarial ALERT refused (%)": rate(r["asr"].get("refusal_rate")),
            "XSTest safe prompts refused (%)": rate(r["over_refusal"]),
            "XSTest full refusal (%)": _pct(r["over_refusal"]["full_refusal"]),
            "XSTest partial refusal (%)": _pct(r["over_refusal"]["partial_refusal"]),
            "XSTest n": r["over_refusal"]["n"],
            "detector": r["over_refusal"].get("detector", r["judge"].get("refusal", "—")),
        }
        for n, r in evals.items()}).T


def capability_score(result: dict) -> float:
    """Mean headline metric over the general tasks (unweighted), the x-axis of the Pareto plot."""
    return float(np.mean([v[v["metric"]] for v in result["general"].values()]))


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """Names not dominated by another point (higher is better on both axes)."""
    front = []
    for name, (x, y) in points.items():
        if not any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for n2, (x2, y2) in points.items() if n2 != name):
            front.append(name)
    return front


def pareto_figure(evals: dict[str, dict]) -> go.Figure:
    points = {evaluate.model_label(n): (capability_score(r), r["safety_score"]["overall"]) for n, r in evals.items()}
    front = set(pareto_front(points))
    fig = go.Figure()
    for name, res in evals.items():
        label = evaluate.model_label(name)
        x, y = points[label]
        lo, hi = res["safety_score"]["ci95"]
        fig.add_trace(go.Scatter(
            x=[x], y=[100 * y], mode="markers+text", text=[label], textposition="top center", name=label,
            marker=dict(size=12, symbol="star" if label in front else "circle"),
            error_y=dict(type="data", symmetric=False, array=[100 * (hi - y)], arrayminus=[100 * (y - lo)])))
    fig.update_layout(title="Safety vs. general capability (stars: Pareto front)", template=viz.TEMPLATE,
                      xaxis_title="mean general-task score (headline metric)", yaxis_title="safety score S (%)",
                      showlegend=False, height=480)
    return fig


COST_COLUMNS = ["label", "trainer", "loss_type", "steps", "pairs_seen", "tokens_seen", "wall_s", "tokens_per_s",
                "setup_s", "peak_rss_gb", "reference_pass", "device"]


def cost_table(aligns: dict[str, dict]) -> pd.DataFrame:
    rows = {name: {c: res.get(c) for c in COST_COLUMNS} for name, res in aligns.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=COST_COLUMNS)


def eval_time_table(evals: dict[str, dict]) -> pd.DataFrame:
    """Seconds per benchmark that producing each model's answers and scores took (when they were produced;
    a later run that found them in the answer cache only re-judged them)."""
    frame = pd.DataFrame({evaluate.model_label(n): r.get("generation_seconds") or r.get("seconds", {})
                          for n, r in evals.items()}).T
    frame["total"] = frame.sum(axis=1)
    return frame


def judge_sensitivity_table(evals: dict[str, dict]) -> pd.DataFrame:
    """S and ASR (%) of each model under the book's judge and under each other judge, on the same answers."""
    rows = {}
    for name, res in evals.items():
        s, asr = res["safety_score"], res["asr"]
        row = {("S (%)", "book judge"): _pct(s["overall"]), ("ASR (%)", "book judge"): _pct(asr["overall"])}
        for judge in res["judge"].get("other_safety_judges") or {}:
            row[("S (%)", judge)] = _pct(s["other_judges"][judge]["overall"])
            row[("ASR (%)", judge)] = _pct(asr["other_judges"][judge]["overall"])
        rows[evaluate.model_label(name)] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame[sorted(frame.columns, key=lambda c: c[0] != "S (%)")]  # S columns first, judges in order


# ---------------------------------------------------------------------------------------------
# judge agreement


def _flatten(prefix: str, obj) -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(f"{prefix}.{k}" if prefix else k, v))
        return out
    return {prefix: obj}


def toxicity_scorer_note(evals: dict[str, dict]) -> str:
    """The toxicity scorer behind the numbers and its agreement with Perspective (paper A's scorer), if recorded."""
    tox = next((r["judge"]["agreement"].get("toxicity") for r in evals.values()
                if (r.get("judge") or {}).get("agreement", {}).get("toxicity")), None)
    if not tox or tox.get("perspective_spearman") is None:
        return ""
    note = f" — scorer {tox['name']}, Spearman with Perspective {tox['perspective_spearman']:.2f} pooled"
    if tox.get("within_subset_spearman_min") is not None:
        note += f", {tox['within_subset_spearman_min']:.2f} in its weakest subset"
    return note


def agreement_table(agreement: dict) -> pd.DataFrame:
    """The judges' measured agreement with human labels, one row per number."""
    flat = _flatten("", agreement or {})
    return pd.DataFrame({"value": flat}).rename_axis("judge.metric") if flat else pd.DataFrame(
        {"value": {"(none)": "no agreement numbers recorded"}})


def agreement_line(agreement: dict | None) -> str:
    """The one line every judged table carries: the judge, its accuracy on the two benchmark sets, floor met
    or not (judges.agreement); older results without that line list every recorded number."""
    if not agreement:
        return "Judge agreement: not measured yet (run the `judges` and `harm-judges` stages)"
    if "line" in (agreement.get("safety_judge") or {}):
        line = agreement["safety_judge"]["line"]
        refusal = agreement.get("refusal") or {}
        if refusal.get("xstest_accuracy") is not None:
            line += (f" Refusal detector: {refusal['name']}; XSTest leave-one-model-out accuracy "
                     f"{refusal['xstest_accuracy']:.3f} (balanced {refusal['xstest_balanced_accuracy']:.3f}).")
        return line
    parts = []
    for judge, numbers in agreement.items():
        flat = _flatten("", numbers) if isinstance(numbers, dict) else {"": numbers}
        name = flat.pop("name", None)
        shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in flat.items())
        parts.append(f"{judge}{f' ({name})' if name else ''}: {shown}")
    return "Judge agreement with human labels: " + "; ".join(parts)


def interleave(ours: pd.DataFrame, seed: pd.DataFrame, ours_label: str = "ours", seed_label: str = "paper A") -> pd.DataFrame:
    """Per model, our column next to the paper's (models we have not evaluated show the paper only)."""
    cols = {}
    for model in list(dict.fromkeys(list(ours.columns) + list(seed.columns))):
        if model in ours.columns:
            cols[(model, ours_label)] = ours[model]
        if model in seed.columns:
            cols[(model, seed_label)] = seed[model].reindex(ours.index if len(ours.index) else seed.index)
    return pd.DataFrame(cols)


def changes_vs_base(evals: dict[str, dict], records: dict[str, list[dict]]) -> pd.DataFrame:
    """Each aligned model against the base: differences in S and ASR with their paired 95% CIs and McNemar p
    (the same prompts for both models: report.paired, the rule the claims use), refusal rates, adversarial
    toxicity (paired by prompt) and capability (unpaired)."""
    from . import paired

    if "base" not in evals:
        return pd.DataFrame()
    base = evals["base"]

    def paired_cells(label: str, test: dict | None) -> dict:
        if test is None:
            return {f"Δ{label} (pp, paired 95% CI)": "no kept verdicts", f"{label} resolved": None, f"{label} McNemar p": None}
        return {f"Δ{label} (pp, paired 95% CI)": _with_ci(test["difference"], test["ci95"]),
                f"{label} resolved": test["resolved"], f"{label} McNemar p": round(test["mcnemar_p"], 4)}

    def refusal(res: dict, key: str) -> float | None:
        rate = res[key].get("refusal_rate")
        return None if rate is None or base[key].get("refusal_rate") is None else \
            _pct(rate["overall"] - base[key]["refusal_rate"]["overall"])

    rows = {}
    for name, res in evals.items():
        if name == "base":
            continue
        tox = paired.toxicity_versus(records, "base", name)
        rows[evaluate.model_label(name)] = {
            **paired_cells("S", paired.versus(records, evals, "base", name, "safety_score")),
            **paired_cells("ASR", paired.versus(records, evals, "base", name, "asr")),
            "Δ ALERT refusal (pp)": refusal(res, "safety_score"),
            "Δ over-refusal (pp)": _pct(res["over_refusal"]["rate"] - base["over_refusal"]["rate"]),
            "Δ avg_tox adversarial (paired 95% CI)": "no kept verdicts" if tox is None else
            f"{tox['difference']:+.3f} ({tox['ci95'][0]:+.3f}, {tox['ci95'][1]:+.3f})",
            "Δ capability (unpaired)": round(capability_score(res) - capability_score(base), 3),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def reduction_table(result: dict, cfg: dict) -> pd.DataFrame:
    """What this profile evaluated against what the seed paper used (the book must say how much was cut)."""
    tox = result["toxicity"]["benign"]
    per_set = {s: tox[s]["n_prompts"] for s in evaluate.TOXICITY_SUBSETS if s in tox}
    rows = {
        "ALERT prompts (S)": (result["safety_score"]["n"], result["safety_score"]["population"],
                              "14,763 (full ALERT)", f"greedy, {cfg['alert']['max_new_tokens']} new tokens"),
        "adversarial ALERT prompts (ASR)": (result["asr"]["n"], result["asr"]["population"], "30,968",
                                            f"greedy, {cfg['adversarial']['max_new_tokens']} new tokens"),
        "DecodingTrust prompts per set": (min(per_set.values()), "1,196-1,200", "1.2k per set",
                                          f"n={cfg['toxicity']['n']} samples (seed: 25), {cfg['toxicity']['max_new_tokens']} "
                                          f"new tokens (seed: 150), temperature {cfg['toxicity']['temperature']}"),
        "XSTest safe prompts": (result["over_refusal"]["n"], result["over_refusal"]["population"], "not in paper A",
                                f"greedy, {cfg['xstest']['max_new_tokens']} new tokens"),
    }
    for task, v in result["general"].items():
        rows[f"general: {task}"] = (v["n"], "", "full task (Table 6)" if task in paper_a.TABLE6_TASKS
                                    else "not in paper A", v["metric"])
    return pd.DataFrame.from_dict(rows, orient="index", columns=["evaluated here", "shipped", "paper A", "decoding / metric"])
