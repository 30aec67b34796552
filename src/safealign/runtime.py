"""Process-level settings every notebook starts with: seeds, threads, offline mode, plotly renderer."""

from __future__ import annotations

import os
import random

CPU_ENV = {
    # Two busy OpenMP threads spinning against each other ran 3-20x slower than one here.
    "OMP_WAIT_POLICY": "PASSIVE",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONHASHSEED": "0",
}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def environment(settings: dict) -> dict[str, str]:
    env = dict(CPU_ENV)
    if settings.offline:
        env.update(OFFLINE_ENV)
    return env


def setup(settings: dict) -> None:
    """Apply a profile's runtime settings in the current process (call first in a notebook)."""
    for key, value in environment(settings).items():
        os.environ.setdefault(key, value)
    seed_everything(settings.seed)
    from . import viz

    viz.use_offline_renderer()
    viz.show_tables_whole()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def device(settings: dict) -> str:
    wanted = settings.device
    if wanted != "auto":
        return wanted
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
