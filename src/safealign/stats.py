"""Small statistics shared by chapters that should not import each other's wings."""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> list[float]:
    """Wilson score 95% interval of a proportion: valid at small n, where a bootstrap of 3 answers is not."""
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None = not tested, left out of the family):
    the adjusted p of the i-th smallest of m is max over j <= i of min(1, (m - j + 1) p_(j))."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    out: list[float | None] = [None] * len(pvalues)
    running, m = 0.0, len(tested)
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def bootstrap_auc(labels, scores, groups=None, n_boot: int = 1000, seed: int = 0) -> list[float] | None:
    """Percentile 95% interval of ROC-AUC (labels 1 = positive, higher score = more positive), resampling the
    groups (texts, for token-level AUC: tokens of one text are not independent) or, without groups, the rows
    within each label. None when a resample can never hold both labels."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    if len(set(y.tolist())) < 2:
        return None
    rng = np.random.default_rng(seed)
    if groups is None:
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        draws = (np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]) for _ in range(n_boot))
    else:
        members: dict = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        blocks = [np.asarray(v) for v in members.values()]
        draws = (np.concatenate([blocks[j] for j in rng.integers(len(blocks), size=len(blocks))]) for _ in range(n_boot))
    aucs = [roc_auc_score(y[idx], s[idx]) for idx in draws if 0 < y[idx].sum() < len(idx)]
    return [float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))] if aucs else None


def paired_auc_difference(labels, scores_a, scores_b, n_boot: int = 1000, seed: int = 0) -> dict:
    """AUC(b) − AUC(a) on the same rows, with a percentile 95% interval from one stratified bootstrap of the rows
    shared by both (the paired comparison of two scorers)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    y, a, b = np.asarray(labels, dtype=int), np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        diffs.append(roc_auc_score(y[idx], b[idx]) - roc_auc_score(y[idx], a[idx]))
    return {"difference": float(roc_auc_score(y, b) - roc_auc_score(y, a)),
            "ci95": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))], "n": int(len(y))}
