"""Paper A's claims checked against our evaluations: one row per claim, with the paper's evidence (from
report.paper_a), ours (from book/results/<profile>/eval/*.json) and a verdict computed by a stated rule.

A change counts as beyond sampling noise only when the two 95% CIs are disjoint (conservative: the
bootstrap CIs are per model, not paired). Verdicts say "not resolved" rather than guess when our
subsets cannot separate what the claim separates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .. import evaluate
from . import paper_a
from .tables import OVERALL_ASR, OVERALL_S, capability_score, pareto_front

CLAIM_COLUMNS = ["claim", "paper A", "ours", "verdict"]


def disjoint(a: list[float], b: list[float]) -> bool:
    return a[1] < b[0] or b[1] < a[0]


def capability_stderr(result: dict) -> float:
    """Standard error of capability_score (tasks treated as independent; unpaired, so conservative)."""
    errs = [v.get(f"{v['metric']}_stderr", 0.0) for v in result["general"].values()]
    return float(np.sqrt(np.sum(np.square(errs))) / len(errs))


def _paper(table: dict, columns: list[str], row: str) -> dict[str, float]:
    return dict(zip(columns, table[row]))


def _aligned(evals: dict[str, dict]) -> dict[str, dict]:
    return {evaluate.model_label(m): r for m, r in evals.items() if m != "base"}


def _direction(evals: dict[str, dict], key: str, better: str) -> tuple[str, str]:
    """(ours, verdict) for 'every aligned model beats the base on key' (safety_score up / asr down)."""
    base, aligned = evals["base"][key], _aligned(evals)
    sign = 1 if better == "higher" else -1
    moved = [n for n, r in aligned.items() if sign * (r[key]["overall"] - base["overall"]) > 0]
    sure = [n for n in moved if disjoint(aligned[n][key]["ci95"], base["ci95"])]
    ours = (f"{len(moved)}/{len(aligned)} {better} than base ({100 * base['overall']:.1f}%), "
            f"{len(sure)} beyond the CIs")
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


def _rank_claim(evals: dict[str, dict], label: str, key: str, best: str) -> tuple[str, str]:
    """Where method `label` stands on key (best = 'highest'|'lowest'), and whether the CIs separate it."""
    aligned = _aligned(evals)
    if label not in aligned:
        return "not evaluated", "not resolved"
    ranked = sorted(aligned, key=lambda n: aligned[n][key]["overall"], reverse=best == "highest")
    rank, top = ranked.index(label) + 1, ranked[0]
    ours = (f"{label} is {rank} of {len(aligned)} counting from the {best} "
            f"({100 * aligned[label][key]['overall']:.1f}%; {best}: {top})")
    ci = aligned[label][key]["ci95"]
    if top == label:
        overlapping = [n for n in ranked[1:] if not disjoint(ci, aligned[n][key]["ci95"])]
        if not overlapping:
            return ours, "reproduces"
        return ours, f"consistent, not resolved (CI overlaps {len(overlapping)} other methods)"
    tied = not disjoint(ci, aligned[top][key]["ci95"])
    return ours, "not resolved (CIs overlap)" if tied else "does not reproduce"


def claims(evals: dict[str, dict]) -> pd.DataFrame:
    """The table of paper A's claims and whether our evaluations reproduce them."""
    if "base" not in evals or len(evals) < 2:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    rows = []
    s2 = _paper(paper_a.TABLE2, paper_a.TABLE2_COLUMNS, OVERALL_S)
    a4 = _paper(paper_a.TABLE4, paper_a.TABLE4_COLUMNS, OVERALL_ASR)
    rows.append(["every aligned model is safer than the base (S up)",
                 f"Table 2: {sum(v > s2['Instruct'] for k, v in s2.items() if k != 'Instruct')}/11 above "
                 f"Instruct ({s2['Instruct']:.1f}%)", *_direction(evals, "safety_score", "higher")])
    rows.append(["every aligned model is harder to attack (ASR down)",
                 f"Table 4: {sum(v < a4['Instruct'] for k, v in a4.items() if k != 'Instruct')}/11 below "
                 f"Instruct ({a4['Instruct']:.1f}%)", *_direction(evals, "asr", "lower")])
    for what, key, table, columns, row in (("S", "safety_score", paper_a.TABLE2, paper_a.TABLE2_COLUMNS, OVERALL_S),
                                           ("ASR", "asr", paper_a.TABLE4, paper_a.TABLE4_COLUMNS, OVERALL_ASR)):
        ours, verdict = _ordering(evals, key, table, columns, row)
        rows.append([f"the methods rank as in the paper by {what}", f"Table {2 if what == 'S' else 4}", ours, verdict])
    weakest = min((k for k in s2 if k != "Instruct"), key=s2.get)
    rows.append([f"{weakest} is the least safe aligned model", f"Table 2: {weakest} {s2[weakest]:.1f}%",
                 *_rank_claim(evals, weakest, "safety_score", "lowest")])
    safest = max((k for k in s2 if k != "Instruct"), key=s2.get)
    rows.append([f"{safest} is the safest aligned model", f"Table 2: {safest} {s2[safest]:.2f}%",
                 *_rank_claim(evals, safest, "safety_score", "highest")])
    rows.append(_toxicity_claim(evals))
    rows.append(_capability_claim(evals))
    rows.append(_nca_claim(evals))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _toxicity_claim(evals: dict[str, dict]) -> list[str]:
    base = evals["base"]["toxicity"]["adversarial"]
    aligned = _aligned(evals)
    lower = [n for n, r in aligned.items() if r["toxicity"]["adversarial"]["average"] < base["average"]]
    sure = [n for n in lower if disjoint(aligned[n]["toxicity"]["adversarial"]["average_ci95"], base["average_ci95"])]
    mean = np.mean([r["toxicity"]["adversarial"]["average"] for r in aligned.values()])
    ours = (f"base {base['average']:.3f}, aligned mean {mean:.3f}; {len(lower)}/{len(aligned)} lower, "
            f"{len(sure)} beyond the CIs")
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
