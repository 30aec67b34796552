"""Where things live. Every location can be overridden by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent


def data_dir() -> Path:
    """Shipped offline datasets: $SAFEALIGN_DATA_DIR, default ../shared/data next to the checkout."""
    return Path(os.environ.get("SAFEALIGN_DATA_DIR", REPO_ROOT.parent / "shared" / "data")).resolve()


def runs_dir() -> Path:
    """Large, regenerable artefacts (model copies, checkpoints, curated datasets): not committed."""
    return Path(os.environ.get("SAFEALIGN_RUNS_DIR", REPO_ROOT / "runs")).resolve()


def book_dir() -> Path:
    return REPO_ROOT / "book"


def results_dir(profile: str) -> Path:
    """Headline metrics (small JSON) that the book reads; committed for the `cpu` profile."""
    return book_dir() / "results" / profile


def answers_dir(profile: str) -> Path:
    """Every evaluation's generated answers (the answer cache), committed for the `cpu` profile."""
    return book_dir() / "answers" / profile


def executed_dir(profile: str) -> Path:
    """Executed notebooks that the book shows, with their pipeline stamps."""
    return book_dir() / "executed" / profile


def run_dir(profile: str, *parts: str) -> Path:
    path = runs_dir() / profile
    for part in parts:
        path = path / part
    path.mkdir(parents=True, exist_ok=True)
    return path
