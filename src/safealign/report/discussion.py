"""Paper A's claims checked against our evaluations: one row per claim, with the paper's evidence (from
report.paper_a), ours (from book/results/<profile>/eval/*.json) and a verdict computed by a stated rule.

Both models of a comparison answered the same prompts, so a change counts as beyond sampling noise when
its paired 95% CI (report.paired: the same prompts resampled for both models, McNemar beside it)
excludes 0. Capability stays unpaired (its per-item scores are not kept): its noise is the two
standard errors combined. Verdicts say "not resolved" rather than guess when our subsets cannot separate
what the claim separates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .. import evaluate
from . import paired, paper_a
from .tables import OVERALL_ASR, OVERALL_S, capability_score, pareto_front

CLAIM_COLUMNS = ["claim", "paper A", "ours", "verdict"]


def capability_stderr(result: dict) -> float:
    """Standard error of capability_score (tasks treated as independent; unpaired, so conservative)."""
    errs = [v.get(f"{v['metric']}_stderr", 0.0) for v in result["general"].values()]
    return float(np.sqrt(np.sum(np.square(errs))) / len(errs))


def _paper(table: dict, columns: list[str], row: str) -> dict[str, float]:
    return dict(zip(columns, table[row]))


def _aligned(evals: dict[str, dict]) -> dict[str, dict]:
    return {evaluate.model_label(m): r for m, r in evals.items() if m != "base"}


def _versus_base(evals: dict[str, dict], records: dict[str, list[dict]], key: str) -> dict[str, dict | None]:
    return {evaluate.model_label(m): paired.versus(records, evals, "base", m, key) for m in evals if m != "base"}


def _direction(evals: dict[str, dict], records: dict[str, list[dict]], key: str, better: str) -> tuple[str, str]:
    """(ours, verdict) for 'every aligned model beats the base on key' (safety_score up / asr down)."""
    base, aligned = evals["base"][key], _aligned(evals)
    sign = 1 if better == "higher" else -1
    tests = _versus_base(evals, records, key)
    moved = [n for n, r in aligned.items() if sign * (r[key]["overall"] - base["overall"]) > 0]
    sure = [n for n in moved if tests[n] is not None and tests[n]["resolved"]]
    ours = (f"{len(moved)}/{len(aligned)} {better} than base ({100 * base['overall']:.1f}%), "
            f"{len(sure)} resolved by the paired test")
    if len(moved) == len(aligned) and len(sure) == len(aligned):
        verdict = "reproduces"
    elif len(moved) == len(aligned):
        verdict = "reproduces in direction; not all beyond noise"
    elif sure:
        verdict = f"partly: fails for {', '.join(n for n in aligned if n not in moved)}"
    else:
        verdict = "does not reproduce"
    return ours, verdict


def _ordering(evals: dict[str, dict], key: str, table: dict, columns: list[str], row: str) -> tuple[str, str]:
    paper = _paper(table, columns, row)
    aligned = _aligned(evals)
    common = [n for n in aligned if n in paper]
    if len(common) < 4:
        return f"{len(common)} methods evaluated", "not resolved (too few methods)"
    ours = [aligned[n][key]["overall"] for n in common]
    if len(set(ours)) == 1:
        return f"all {len(common)} methods tie", "not resolved"
    rho, p = spearmanr([paper[n] for n in common], ours)
    verdict = "not resolved" if p >= 0.05 else "reproduces" if rho > 0 else "does not reproduce (reversed)"
    return f"Spearman ρ = {rho:.2f} with the paper's order over {len(common)} methods (p = {p:.2f})", verdict


def _rank_claim(evals: dict[str, dict], records: dict[str, list[dict]], label: str, key: str,
                best: str) -> tuple[str, str]:
    """Where method `label` stands on key (best = 'highest'|'lowest'), and whether paired tests separate it."""
    aligned = _aligned(evals)
    if label not in aligned:
        return "not evaluated", "not resolved"
    ranked = sorted(aligned, key=lambda n: aligned[n][key]["overall"], reverse=best == "highest")
    rank, top = ranked.index(label) + 1, ranked[0]
    ours = (f"{label} is {rank} of {len(aligned)} counting from the {best} "
            f"({100 * aligned[label][key]['overall']:.1f}%; {best}: {top})")
    name_of = {evaluate.model_label(m): m for m in evals}

    def separated(x: str, y: str) -> bool:
        test = paired.versus(records, evals, name_of[x], name_of[y], key)
        return test is not None and test["resolved"]

    if top == label:
        unresolved = [n for n in ranked[1:] if not separated(label, n)]
        if not unresolved:
            return ours, "reproduces"
        return ours, f"consistent, not resolved (the paired test does not separate it from {len(unresolved)} other methods)"
    return ours, "does not reproduce" if separated(label, top) else "not resolved (paired difference within noise)"


def claims(evals: dict[str, dict], records: dict[str, list[dict]]) -> pd.DataFrame:
    """The table of paper A's claims and whether our evaluations reproduce them; `records`: each model's
    answers with their verdicts (report.answers.load_verdicts), for the paired tests."""
    if "base" not in evals or len(evals) < 2:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    rows = []
    s2 = _paper(paper_a.TABLE2, paper_a.TABLE2_COLUMNS, OVERALL_S)
    a4 = _paper(paper_a.TABLE4, paper_a.TABLE4_COLUMNS, OVERALL_ASR)
    rows.append(["every aligned model is safer than the base (S up)",
                 f"Table 2: {sum(v > s2['Instruct'] for k, v in s2.items() if k != 'Instruct')}/11 above "
                 f"Instruct ({s2['Instruct']:.1f}%)", *_direction(evals, records, "safety_score", "higher")])
    rows.append(["every aligned model is harder to attack (ASR down)",
                 f"Table 4: {sum(v < a4['Instruct'] for k, v in a4.items() if k != 'Instruct')}/11 below "
                 f"Instruct ({a4['Instruct']:.1f}%)", *_direction(evals, records, "asr", "lower")])
    for what, key, table, columns, row in (("S", "safety_score", paper_a.TABLE2, paper_a.TABLE2_COLUMNS, OVERALL_S),
                                           ("ASR", "asr", paper_a.TABLE4, paper_a.TABLE4_COLUMNS, OVERALL_ASR)):
        ours, verdict = _ordering(evals, key, table, columns, row)
        rows.append([f"the methods rank as in the paper by {what}", f"Table {2 if what == 'S' else 4}", ours, verdict])
    weakest = min((k for k in s2 if k != "Instruct"), key=s2.get)
    rows.append([f"{weakest} is the least safe aligned model", f"Table 2: {weakest} {s2[weakest]:.1f}%",
                 *_rank_claim(evals, records, weakest, "safety_score", "lowest")])
    safest = max((k for k in s2 if k != "Instruct"), key=s2.get)
    rows.append([f"{safest} is the safest aligned model", f"Table 2: {safest} {s2[safest]:.2f}%",
                 *_rank_claim(evals, records, safest, "safety_score", "highest")])
    rows.append(_toxicity_claim(evals, records))
    rows.append(_capability_claim(evals))
    rows.append(_nca_claim(evals))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _toxicity_claim(evals: dict[str, dict], records: dict[str, list[dict]]) -> list[str]:
    base = evals["base"]["toxicity"]["adversarial"]
    aligned = _aligned(evals)
    tests = {evaluate.model_label(m): paired.toxicity_versus(records, "base", m) for m in evals if m != "base"}
    lower = [n for n, r in aligned.items() if r["toxicity"]["adversarial"]["average"] < base["average"]]
    sure = [n for n in lower if tests[n] is not None and tests[n]["resolved"]]
    mean = np.mean([r["toxicity"]["adversarial"]["average"] for r in aligned.values()])
    ours = (f"base {base['average']:.3f}, aligned mean {mean:.3f}; {len(lower)}/{len(aligned)} lower, "
            f"{len(sure)} resolved by the paired test (by prompt)")
    verdict = ("reproduces" if len(sure) == len(aligned) else
               "reproduces in direction; not all beyond noise" if len(lower) == len(aligned) else
               "partly" if lower else "does not reproduce")
    return ["alignment lowers average toxicity under the adversarial system prompt",
            "Figure 6 / Introduction: > 0.6 → < 0.07", ours, verdict]


def _capability_claim(evals: dict[str, dict]) -> list[str]:
    base = evals["base"]
    aligned = _aligned(evals)
    deltas = {n: capability_score(r) - capability_score(base) for n, r in aligned.items()}
    noise = {n: 1.96 * np.hypot(capability_stderr(r), capability_stderr(base)) for n, r in aligned.items()}
    lower = [n for n, d in deltas.items() if d < 0]
    sure = [n for n in lower if -deltas[n] > noise[n]]
    ours = (f"mean-task score Δ from {min(deltas.values()):+.3f} to {max(deltas.values()):+.3f} "
            f"(noise ±{np.mean(list(noise.values())):.3f}); {len(lower)}/{len(aligned)} lower, {len(sure)} beyond noise")
    verdict = ("reproduces" if len(sure) > len(aligned) / 2 else
               "not resolved (changes within noise)" if not sure else "partly")
    return ["safety costs some general capability", "Table 6: small drops, mostly MATH and IFEval", ours, verdict]


def _nca_claim(evals: dict[str, dict]) -> list[str]:
    points = {evaluate.model_label(n): (capability_score(r), r["safety_score"]["overall"]) for n, r in evals.items()}
    if "Safe-NCA" not in points:
        return ["Safe-NCA balances safety and capability best", "Abstract", "not evaluated", "not resolved"]
    front = pareto_front(points)
    ours = f"Pareto front (capability, S): {', '.join(front)}"
    base = evals["base"]
    capability_resolved = any(abs(capability_score(r) - capability_score(base))
                              > 1.96 * np.hypot(capability_stderr(r), capability_stderr(base)) for r in evals.values())
    verdict = "consistent (on the front)" if "Safe-NCA" in front else "does not reproduce (not on the front)"
    if not capability_resolved:
        verdict += "; not resolved: no capability change is beyond noise"
    return ["Safe-NCA balances safety and capability best", "Abstract", ours, verdict]
