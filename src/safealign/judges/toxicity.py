"""Toxicity scorers: the offline Jigsaw BiLSTM (ported from Keras to torch) and the Perspective API.

The BiLSTM ships in the PyPI package `toxic-comment-classifier` as Keras weights (h5) plus a pickled
Keras `Tokenizer`. We rebuild its architecture (from the package's model.py) in torch, read the weights
with h5py and the vocabulary through a restricted unpickler: no TensorFlow, no arbitrary pickle code.

    Embedding(20000, 50) -> BiLSTM(50, return_sequences) -> GlobalMaxPool -> Dense(50, relu) -> Dense(6, sigmoid)
    inputs: Keras `texts_to_sequences`, then `pad_sequences(maxlen=100)` (pad and truncate at the front)
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .unpickle import KERAS_TOKENIZER_CLASSES, restricted_load

TOXIC_PACKAGE = "toxic_classifier"
MAXLEN, VOCAB_SIZE, EMBEDDING_DIM, LSTM_UNITS, DENSE_UNITS = 100, 20000, 50, 50, 50
JIGSAW_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


class ToxicityModelNotFound(RuntimeError):
    pass


def bilstm_files() -> tuple[Path, Path]:
    """(model.weights.h5, tokenizer.pickle) of the installed `toxic-comment-classifier` package."""
    spec = importlib.util.find_spec(TOXIC_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ToxicityModelNotFound(
            "the offline toxicity scorer needs `pip install --no-deps toxic-comment-classifier` (or `make setup`)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    files = folder / "model.weights.h5", folder / "tokenizer.pickle"
    for f in files:
        if not f.exists():
            raise ToxicityModelNotFound(f"{f} is missing; reinstall toxic-comment-classifier")
    return files


class KerasWordTokenizer:
    """Keras' legacy `Tokenizer.texts_to_sequences` over a vocabulary read from its pickle."""

    def __init__(self, word_index: dict[str, int], num_words: int | None, filters: str, lower: bool, split: str,
                 oov_token: str | None):
        self.word_index, self.num_words, self.lower, self.split = word_index, num_words, lower, split
        self.oov_index = word_index.get(oov_token) if oov_token is not None else None
        self._translate = str.maketrans({c: split for c in filters})

    @classmethod
    def from_pickle(cls, path: str | Path) -> "KerasWordTokenizer":
        bag = restricted_load(path, KERAS_TOKENIZER_CLASSES)
        if getattr(bag, "char_level", False) or getattr(bag, "analyzer", None) is not None:
            raise ValueError(f"{path}: only word-level Keras tokenizers without a custom analyzer are supported")
        return cls(dict(bag.word_index), bag.num_words, bag.filters, bag.lower, bag.split, bag.oov_token)

    def words(self, text: str) -> list[str]:
        if self.lower:
            text = text.lower()
        return [w for w in text.translate(self._translate).split(self.split) if w]

    def ids(self, text: str) -> list[int]:
        out = []
        for word in self.words(text):
            i = self.word_index.get(word)
            if i is not None and self.num_words and i >= self.num_words:
                i = self.oov_index
            elif i is None:
                i = self.oov_index
            if i is not None:
                out.append(i)
        return out

    def pad(self, texts: Sequence[str], maxlen: int = MAXLEN) -> torch.Tensor:
        """`pad_sequences(..., maxlen)` with Keras defaults: keep the last `maxlen` ids, zeros in front."""
        batch = torch.zeros(len(texts), maxlen, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = self.ids(text)[-maxlen:]
            if ids:
                batch[row, maxlen - len(ids):] = torch.tensor(ids)
        return batch


class JigsawBiLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, EMBEDDING_DIM)
        self.lstm = nn.LSTM(EMBEDDING_DIM, LSTM_UNITS, batch_first=True, bidirectional=True)
        self.hidden = nn.Linear(2 * LSTM_UNITS, DENSE_UNITS)
        self.out = nn.Linear(DENSE_UNITS, len(JIGSAW_CLASSES))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(self.embedding(ids))
        pooled = states.max(dim=1).values
        return torch.sigmoid(self.out(torch.relu(self.hidden(pooled))))

    @classmethod
    def from_keras_h5(cls, path: str | Path) -> "JigsawBiLSTM":
        import h5py

        model = cls()
        with h5py.File(path, "r") as f:
            def var(name: str) -> torch.Tensor:
                if name not in f:
                    raise ValueError(f"{path}: weight {name!r} not found; not the Jigsaw BiLSTM weights file")
                return torch.from_numpy(np.asarray(f[name], dtype=np.float32))

            state = {"embedding.weight": var("layers/embedding/vars/0"),
                     "hidden.weight": var("layers/dense/vars/0").T, "hidden.bias": var("layers/dense/vars/1"),
                     "out.weight": var("layers/dense_1/vars/0").T, "out.bias": var("layers/dense_1/vars/1")}
            # Keras LSTM: kernel (in, 4u), recurrent (u, 4u), one bias; gate order i, f, c, o as in torch.
            for keras_dir, suffix in (("forward_layer", ""), ("backward_layer", "_reverse")):
                cell = f"layers/bidirectional/{keras_dir}/cell/vars"
                state[f"lstm.weight_ih_l0{suffix}"] = var(f"{cell}/0").T
                state[f"lstm.weight_hh_l0{suffix}"] = var(f"{cell}/1").T
                state[f"lstm.bias_ih_l0{suffix}"] = var(f"{cell}/2")
                state[f"lstm.bias_hh_l0{suffix}"] = torch.zeros(4 * LSTM_UNITS)
        model.load_state_dict({k: v.contiguous() for k, v in state.items()})
        return model.eval()


class BiLSTMToxicityScorer:
    """Offline toxicity in [0, 1]: the BiLSTM's probability for `label` (default Jigsaw 'toxic')."""

    def __init__(self, label: str = "toxic", batch_size: int = 128):
        if label not in JIGSAW_CLASSES + ("mean",):
            raise ValueError(f"toxicity label {label!r} (parameter judges.toxicity.label) not in {JIGSAW_CLASSES + ('mean',)}")
        weights, tokenizer = bilstm_files()
        self.model = JigsawBiLSTM.from_keras_h5(weights)
        self.tokenizer = KerasWordTokenizer.from_pickle(tokenizer)
        self.label, self.batch_size = label, batch_size
        self.name = f"jigsaw-bilstm ({label})"

    @torch.no_grad()
    def classes(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 6) probabilities for the Jigsaw classes."""
        out = [self.model(self.tokenizer.pad(texts[i:i + self.batch_size])).numpy()
               for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(JIGSAW_CLASSES)), dtype=np.float32)

    def score(self, texts: Sequence[str]) -> list[float]:
        probs = self.classes(list(texts))
        column = probs.mean(1) if self.label == "mean" else probs[:, JIGSAW_CLASSES.index(self.label)]
        return [float(p) for p in column]


class PerspectiveScorer:
    """Perspective API TOXICITY. The key comes only from $PERSPECTIVE_API_KEY, travels in a request header
    (never in a URL that an error message could echo) and is never stored on the object."""

    URL = "https://commentanalyzer.googleapis.com/v1alpha1/comments:analyze"
    ENV = "PERSPECTIVE_API_KEY"

    def __init__(self, requests_per_second: float = 1.0, timeout: float = 30.0, retries: int = 3):
        if not os.environ.get(self.ENV):
            raise RuntimeError(f"the Perspective scorer needs the environment variable {self.ENV} (an API key)")
        self.interval, self.timeout, self.retries = 1.0 / requests_per_second, timeout, retries
        self._last = 0.0
        self._lock = threading.Lock()
        self.name = "perspective-api (TOXICITY)"

    def __repr__(self) -> str:
        return f"PerspectiveScorer(rate={1 / self.interval:g}/s)"

    def _wait(self) -> None:
        with self._lock:
            delay = self._last + self.interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last = time.monotonic()

    def _one(self, text: str) -> float:
        body = json.dumps({"comment": {"text": text}, "languages": ["en"],
                           "requestedAttributes": {"TOXICITY": {}}, "doNotStore": True}).encode()
        for attempt in range(self.retries + 1):
            self._wait()
            request = urllib.request.Request(self.URL, data=body, method="POST", headers={
                "Content-Type": "application/json", "X-Goog-Api-Key": os.environ[self.ENV]})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    result = json.load(response)
                return float(result["attributeScores"]["TOXICITY"]["summaryScore"]["value"])
            except urllib.error.HTTPError as err:  # the message holds status and URL, never the header
                if err.code != 429 or attempt == self.retries:
                    raise RuntimeError(f"Perspective API request failed: HTTP {err.code}") from None
                time.sleep(2 ** attempt)
        raise AssertionError("unreachable")

    def score(self, texts: Sequence[str]) -> list[float]:
        return [self._one(t) for t in texts]


@lru_cache(maxsize=4)
def _cached_bilstm(label: str) -> BiLSTMToxicityScorer:
    return BiLSTMToxicityScorer(label)


def load_toxicity_scorer(settings: dict):
    """The profile's toxicity scorer: `judges.toxicity.backend` = 'bilstm' (offline) | 'perspective'."""
    config = settings.judges.toxicity
    backend = config.backend
    if backend == "bilstm":
        return _cached_bilstm(config.label)
    if backend == "perspective":
        return PerspectiveScorer(config.requests_per_second)
    raise ValueError(f"judges.toxicity.backend {backend!r} in profiles.yaml: choose 'bilstm' or 'perspective'")
