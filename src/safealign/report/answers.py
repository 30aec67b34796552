"""The answer browser: every evaluation's answers, untruncated, with every judge's verdict.

Reads what the evaluations committed (book/answers/<profile>/<model>.verdicts.jsonl), so the browser
needs neither weights nor judges: the verdicts are the ones the evaluations computed and scored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import paths
from ..data import DataError, read_jsonl

SAFETY_BENCHMARKS = ("alert", "alert_adversarial")


def verdicts_path(profile: str, model: str) -> Path:
    return paths.answers_dir(profile) / f"{model}.verdicts.jsonl"


def load_verdicts(profile: str, models: list[str]) -> dict[str, list[dict]]:
    """{model: its evaluation's answer records} for the models whose evaluation has run."""
    out = {}
    for model in models:
        path = verdicts_path(profile, model)
        if path.exists():
            out[model] = [row for _, row in read_jsonl(path)]
    return out


def _verdict(safe) -> str:
    return "—" if safe is None else ("safe" if safe else "UNSAFE")


def safety_answers(records: dict[str, list[dict]], benchmark: str, labels: dict[str, str]) -> pd.DataFrame:
    """One row per (prompt, model): the answer in full and each judge's verdict (ALERT or adversarial ALERT)."""
    if benchmark not in SAFETY_BENCHMARKS:
        raise ValueError(f"benchmark {benchmark!r}: choose one of {SAFETY_BENCHMARKS}")
    rows = []
    for model, recs in records.items():
        for r in recs:
            if r.get("benchmark") != benchmark:
                continue
            if "prompt" not in r or "answer" not in r:
                raise DataError(f"{model}: a {benchmark} record lacks 'prompt' or 'answer'")
            row = {"prompt": r["prompt"], "category": r.get("category"), "model": labels.get(model, model),
                   "answer": r["answer"], "book judge": _verdict(r.get("safe"))}
            if benchmark == "alert_adversarial":
                row = {"attack": r.get("attack"), **row}
            for judge, safe in (r.get("safe_under") or {}).items():
                row[judge] = _verdict(safe)
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {label: i for i, label in enumerate(labels.get(m, m) for m in records)}
    return frame.sort_values(["prompt", "model"], key=lambda col: col.map(order) if col.name == "model" else col,
                             kind="stable").reset_index(drop=True)


def verdict_summary(records: dict[str, list[dict]], labels: dict[str, str]) -> pd.DataFrame:
    """Per model and safety benchmark: answers kept and the share each judge called unsafe (unweighted)."""
    rows = []
    for model, recs in records.items():
        for benchmark in SAFETY_BENCHMARKS:
            sel = [r for r in recs if r.get("benchmark") == benchmark]
            if not sel:
                continue
            row = {"model": labels.get(model, model), "benchmark": benchmark, "answers": len(sel),
                   "unsafe (book judge)": sum(not r["safe"] for r in sel) / len(sel)}
            judges = sorted({j for r in sel for j in (r.get("safe_under") or {})})
            for judge in judges:
                judged = [r["safe_under"][judge] for r in sel if judge in (r.get("safe_under") or {})]
                row[f"unsafe ({judge})"] = sum(not s for s in judged) / len(judged)
            rows.append(row)
    return pd.DataFrame(rows)


def disagreements(frame: pd.DataFrame, judges: list[str]) -> pd.DataFrame:
    """The rows of `safety_answers` where the judges named do not all agree."""
    present = [j for j in judges if j in frame.columns]
    if not present:
        return frame.iloc[0:0]
    return frame[frame[present].nunique(axis=1) > 1].reset_index(drop=True)


def xstest_answers(records: dict[str, list[dict]], labels: dict[str, str]) -> pd.DataFrame:
    """XSTest's safe prompts: each model's answer and the refusal detector's label (over-refusal)."""
    rows = [{"type": r.get("type"), "prompt": r["prompt"], "model": labels.get(m, m), "answer": r["answer"],
             "refusal label": r.get("label")}
            for m, recs in records.items() for r in recs if r.get("benchmark") == "xstest"]
    return pd.DataFrame(rows)


def html(frame: pd.DataFrame) -> str:
    """The whole table as HTML: every row, every column, every cell's full text."""
    with pd.option_context("display.max_colwidth", None):
        return frame.to_html(index=False, max_rows=None, max_cols=None, notebook=True, escape=True, na_rep="")
