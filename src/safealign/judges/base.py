"""What every judge returns, where trained judges live, and the agreement metrics they are validated by."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors.numpy import load_file, save_file

from .. import io, paths

NOTEBOOK = "notebooks/03_judges.ipynb"


@dataclass(frozen=True)
class Verdict:
    safe: bool
    score: float  # probability that the response is unsafe
    category: str | None = None


class JudgeNotTrained(FileNotFoundError):
    pass


class SafetyJudge:
    """ω(prompt, response) → Verdict, batched. Subclasses implement `judge` and set `name`."""

    name = "safety-judge"

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Verdict]:
        raise NotImplementedError

    def __call__(self, prompt: str, response: str) -> Verdict:
        return self.judge([prompt], [response])[0]


def check_pairs(prompts: Sequence[str], responses: Sequence[str]) -> None:
    if len(prompts) != len(responses):
        raise ValueError(f"judge(prompts, responses): got {len(prompts)} prompts but {len(responses)} responses")
    for i, text in enumerate(list(prompts) + list(responses)):
        if not isinstance(text, str):
            kind = "prompts" if i < len(prompts) else "responses"
            raise TypeError(f"judge(): {kind}[{i % max(len(prompts), 1)}] is {type(text).__name__}, expected str")


# ---------------------------------------------------------------------------------------------
# trained weights: safetensors arrays + a small json beside them


def weights_dir(profile: str) -> Path:
    return paths.run_dir(profile, "judges")


def save_arrays(folder: Path, name: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(folder / f"{name}.safetensors") as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
    io.write_json(folder / f"{name}.json", meta)


def load_arrays(folder: Path, name: str, profile: str) -> tuple[dict[str, np.ndarray], dict]:
    weights, meta = folder / f"{name}.safetensors", folder / f"{name}.json"
    if not (weights.exists() and meta.exists()):
        raise JudgeNotTrained(
            f"{weights} not found: train the judges first by running {NOTEBOOK} "
            f"(python -m safealign.pipeline --profile {profile} --only judges)")
    return load_file(str(weights)), json.loads(meta.read_text())


# ---------------------------------------------------------------------------------------------
# agreement metrics


def binary_metrics(unsafe_truth: Sequence[bool], unsafe_score: Sequence[float], threshold: float = 0.5,
                   bins: int = 10) -> dict:
    """Accuracy, F1 (unsafe = positive), ROC-AUC and expected calibration error of `unsafe_score`."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y = np.asarray(unsafe_truth, dtype=bool)
    s = np.asarray(unsafe_score, dtype=float)
    pred = s >= threshold
    out = {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred)),
           "f1": float(f1_score(y, pred, zero_division=0)),
           "roc_auc": float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else None,
           "positive_rate": float(y.mean()) if len(y) else None}
    out["ece"], out["reliability"] = calibration(y, s, bins)
    return out


def calibration(y: np.ndarray, s: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error and the reliability table (mean score vs observed rate per bin)."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            mean_score, rate = float(s[mask].mean()), float(y[mask].mean())
            ece += mask.mean() * abs(mean_score - rate)
            table.append({"bin": b, "n": int(mask.sum()), "mean_score": mean_score, "unsafe_rate": rate})
    return float(ece), table
