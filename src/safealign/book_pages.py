"""Pages of the book written from the pipeline's own records at build time (never typed by hand).

`scale_page` states the real scale of a profile's run, from the committed results and stamps: pairs and
steps of each alignment, prompts per benchmark, samples per toxicity prompt, items per capability task,
and what each stage cost (wall time, peak memory) on the machine that ran it.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import paths


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _table(header: list[str], rows: list[list]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows])


def scale_page(profile: str) -> str:
    """Markdown: what the `profile` run actually did and what it cost, read from book/results and stamps."""
    from . import pipeline

    results = paths.results_dir(profile)
    lines = [f"# Scale and cost of the `{profile}` run", "",
             "Every number on this page is read from what the pipeline recorded (`book/results/"
             f"{profile}/*.json` and the stamps in `book/executed/{profile}/`) when the book is built; "
             "nothing here is typed by hand. Stages that have not run yet are absent.", ""]
    aligns = {m: _read(results / "align" / f"{m}.json") for m in _methods()}
    rows = [[r["label"], r["trainer"], r["train_pairs_available"], r["pairs_seen"], r["steps"], r["tokens_seen"],
             r["wall_s"], r.get("peak_rss_gb")] for r in aligns.values() if r]
    if rows:
        lines += ["## Alignment", "", "The preference pairs each method trained on, the optimiser steps and tokens it "
                  "saw, its training wall time and the peak memory of its process.", ""]
        lines += _table(["method", "trainer", "pairs available", "pairs seen", "steps", "tokens seen", "wall s",
                         "peak RSS GB"], rows) + [""]
    evals = {p.stem: _read(p) for p in sorted((results / "eval").glob("*.json"))}
    rows = []
    for model, r in evals.items():
        if not r:
            continue
        rows.append([model, r["safety_score"]["n"], r["safety_score"].get("population"), r["asr"]["n"],
                     r["asr"].get("population"), r["over_refusal"]["n"],
                     ", ".join(f"{k}: {v.get('n', '')}" for k, v in r.get("general", {}).items()),
                     round(sum((r.get("generation_seconds") or {}).values()), 1) or None])
    if rows:
        lines += ["## Evaluation", "", "Prompts judged per benchmark (with the size of the full shipped set), "
                  "items per capability task, and the seconds producing the answers took when they were generated.", ""]
        lines += _table(["model", "ALERT prompts", "ALERT population", "adversarial prompts", "adversarial population",
                         "XSTest safe prompts", "capability items per task", "generation s"], rows) + [""]
    rows = []
    for stage in pipeline.stages(profile):
        stamp = _read(paths.executed_dir(profile) / f"{stage.name}.stamp.json")
        if stamp:
            rows.append([stage.name, stage.notebook, stamp.get("seconds"), stamp.get("finished")])
    if rows:
        lines += ["## Every stage", "", "Wall seconds of each stage's last run (the machine's other jobs included).", ""]
        lines += _table(["stage", "notebook", "seconds", "finished"], rows) + [""]
    return "\n".join(lines) + "\n"


def _methods() -> list[str]:
    from .align import METHODS

    return list(METHODS)


def generated_dir(profile: str) -> Path:
    return paths.book_dir() / "generated" / profile


def write(profile: str) -> list[Path]:
    """Write the generated pages of `profile`; returns their paths (each relative page is in the toc)."""
    folder = generated_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "scale.md"
    text = scale_page(profile)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    return [target]
