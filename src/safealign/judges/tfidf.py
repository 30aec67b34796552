"""TF-IDF features whose fitted state is plain arrays (saved as safetensors + json, never pickled)."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

PARAMS = ("analyzer", "ngram_range", "min_df", "sublinear_tf", "lowercase", "max_features")


def fit(texts, **params) -> TfidfVectorizer:
    return TfidfVectorizer(dtype=np.float64, **params).fit(texts)


def state(vectorizer: TfidfVectorizer, prefix: str) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, json-able meta) that `restore` turns back into the same vectorizer."""
    params = {k: getattr(vectorizer, k) for k in PARAMS}
    params["ngram_range"] = list(params["ngram_range"])
    vocab = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
    return {f"{prefix}.idf": vectorizer.idf_}, {f"{prefix}.params": params, f"{prefix}.vocabulary": vocab}


def restore(arrays: dict[str, np.ndarray], meta: dict, prefix: str) -> TfidfVectorizer:
    params = dict(meta[f"{prefix}.params"])
    params["ngram_range"] = tuple(params["ngram_range"])
    vectorizer = TfidfVectorizer(dtype=np.float64, vocabulary=meta[f"{prefix}.vocabulary"], **params)
    vectorizer.idf_ = arrays[f"{prefix}.idf"]
    return vectorizer
