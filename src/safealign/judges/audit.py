"""The audit loop: export a sample of a model's answers with every judge's verdict, label them by hand, and
measure each judge's agreement with those labels.

    python -m safealign.judges.audit export --answers answers.jsonl --profile cpu --n 40 --out audit.csv
    (fill the `human_label` column with safe / unsafe, or leave it empty to skip a row)
    python -m safealign.judges.audit agreement --labels audit.csv

`answers.jsonl` has one {"model", "prompt", "response"} object a line. The notebook 03b writes such an
export for SmolLM2's own answers to book/audit/<profile>/export.csv; a labelled copy saved as
book/audit/<profile>/labels.csv is then shown in the book, with each judge's accuracy and Cohen's κ.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import io, paths

HUMAN = "human_label"
LABELS = ("safe", "unsafe")
FIXED = ("id", "model", "prompt", "response")
VERDICT_PREFIX = "judge:"


class AuditError(ValueError):
    """A malformed export or labels file; the message names the file, line and column."""


def audit_dir(profile: str) -> Path:
    return paths.book_dir() / "audit" / profile


def sample(rows: Sequence[dict], n: int | None, seed: int) -> list[dict]:
    if n is None or n >= len(rows):
        return list(rows)
    return [rows[i] for i in sorted(np.random.default_rng(seed).permutation(len(rows))[:n].tolist())]


def export(rows: Sequence[dict], judges: dict, path: str | Path) -> Path:
    """Write `rows` (model, prompt, response) with each judge's verdict ('safe' / 'unsafe') and an empty
    human_label column, atomically."""
    for i, r in enumerate(rows):
        missing = [k for k in ("model", "prompt", "response") if not isinstance(r.get(k), str)]
        if missing:
            raise AuditError(f"audit export: row {i} lacks text field(s) {missing}")
    prompts, responses = [r["prompt"] for r in rows], [r["response"] for r in rows]
    verdicts = {name: ["safe" if v.safe else "unsafe" for v in judge.judge(prompts, responses)] for name, judge in judges.items()}
    header = list(FIXED) + [VERDICT_PREFIX + name for name in judges] + [HUMAN]
    path = Path(path)
    with io.atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for i, r in enumerate(rows):
                writer.writerow([f"{i:04d}", r["model"], r["prompt"], r["response"]] + [verdicts[n][i] for n in judges] + [""])
    return path


def read_labels(path: str | Path) -> list[dict]:
    """Rows of a labelled export; every row with a human label must say safe or unsafe, and so must each verdict."""
    path = Path(path)
    if not path.exists():
        raise AuditError(f"{path}: labels file not found")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [k for k in FIXED + (HUMAN,) if k not in header]
            if missing:
                raise AuditError(f"{path}:1: missing column(s) {missing}; expected an export of `audit export`")
            if not any(h.startswith(VERDICT_PREFIX) for h in header):
                raise AuditError(f"{path}:1: no '{VERDICT_PREFIX}<name>' verdict column")
            rows = []
            for row in reader:
                line = reader.line_num
                if None in row or any(v is None for v in row.values()):
                    raise AuditError(f"{path}:{line}: wrong number of fields")
                label = row[HUMAN].strip().lower()
                if label and label not in LABELS:
                    raise AuditError(f"{path}:{line}: column {HUMAN!r} is {row[HUMAN]!r}; use safe, unsafe or leave it empty")
                for h in header:
                    if h.startswith(VERDICT_PREFIX) and row[h] not in LABELS:
                        raise AuditError(f"{path}:{line}: column {h!r} is {row[h]!r}, expected safe or unsafe")
                rows.append({**row, HUMAN: label})
    except UnicodeDecodeError as err:
        raise AuditError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None
    return rows


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    observed = float((a == b).mean())
    expected = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
    return (observed - expected) / (1 - expected) if expected < 1 else float("nan")


def agreement(rows: Sequence[dict], n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Per judge column: accuracy, balanced accuracy and Cohen's κ against the human labels, with bootstrap CIs."""
    from .compare import point_metrics

    labelled = [r for r in rows if r[HUMAN]]
    if not labelled:
        raise AuditError("no row has a human label yet; fill the human_label column with safe / unsafe")
    human = np.array([r[HUMAN] == "unsafe" for r in labelled])
    rng = np.random.default_rng(seed)
    boots = [rng.integers(0, len(human), len(human)) for _ in range(n_boot)]
    table = []
    for column in [h for h in labelled[0] if h.startswith(VERDICT_PREFIX)]:
        judged = np.array([r[column] == "unsafe" for r in labelled])
        m = point_metrics(human, judged)
        kappa = [cohen_kappa(human[i], judged[i]) for i in boots]
        acc = [float((human[i] == judged[i]).mean()) for i in boots]
        table.append({"judge": column[len(VERDICT_PREFIX):], "n": int(len(human)), "human_unsafe": int(human.sum()),
                      "judged_unsafe": int(judged.sum()), "accuracy": m["accuracy"],
                      "accuracy_ci95": [float(np.percentile(acc, 2.5)), float(np.percentile(acc, 97.5))],
                      "balanced_accuracy": m["balanced_accuracy"], "kappa": cohen_kappa(human, judged),
                      "kappa_ci95": [float(np.nanpercentile(kappa, 2.5)), float(np.nanpercentile(kappa, 97.5))]})
    return table


def read_answers(path: str | Path) -> list[dict]:
    """{model, prompt, response} rows of a JSONL file; a bad line is reported with file and line."""
    from ..data import DataError, read_jsonl

    path, rows = Path(path), []
    if not path.exists():
        raise AuditError(f"{path}: answers file not found")
    try:
        for line_no, row in read_jsonl(path):
            missing = [k for k in ("model", "prompt", "response") if not isinstance(row.get(k), str)]
            if missing:
                raise AuditError(f"{path}:{line_no}: missing text field(s) {missing}")
            rows.append(row)
    except DataError as err:
        raise AuditError(str(err)) from None
    return rows


def main(argv: list[str] | None = None) -> int:
    from .. import profiles

    parser = argparse.ArgumentParser(prog="python -m safealign.judges.audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="answers + every judge's verdict, with an empty human_label column")
    ex.add_argument("--answers", required=True, help="JSONL of {model, prompt, response}")
    ex.add_argument("--profile", default=profiles.DEFAULT_PROFILE, choices=profiles.names())
    ex.add_argument("--n", type=int, default=40, help="answers sampled (seeded)")
    ex.add_argument("--out", required=True)
    ag = sub.add_parser("agreement", help="each judge's agreement with the filled human_label column")
    ag.add_argument("--labels", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            from .harm_stage import load_judges

            settings = profiles.load(args.profile)
            rows = sample(read_answers(args.answers), args.n, settings["seed"])
            print(export(rows, load_judges(settings), args.out))
        else:
            for row in agreement(read_labels(args.labels)):
                print(json.dumps(row))
    except AuditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
