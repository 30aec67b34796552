"""Harm-type labeller for prompts (paper B, Sec. 3): explicit-content signal x harmful-intent signal.

    explicit  intent   type
    yes       no       EHD  explicit harmful content without malicious intent (slurs, prohibited terms)
    no        yes      IHD  malicious intent with no explicit harmful content
    yes       yes      MHD  both
    no        no       benign

Explicit signal: whole-word matches against a lexicon of HurtLex lemmas (conservative level) and a
curated risk-entity list (`risk.lexicon.RISK_ENTITIES`), or the offline Jigsaw toxicity BiLSTM (judges.toxicity) giving
any of its six classes a probability >= `explicit.toxicity_threshold`. HurtLex is noisy ("know", "score",
"academic" are lemmas), so lemmas that occur in benign general-domain text are pruned (`build_lexicon`).
The signal's score, validated by ROC-AUC on the OpenAI moderation set's human labels, is the BiLSTM's largest
class probability + `explicit.lexicon_weight` x (lexicon hits, at most `explicit.max_hits`).

Intent signal: logistic regression on MiniLM sentence embeddings, trained on real labels (harmful
prompts from HH-RLHF / PKU-SafeRLHF / GPTFuzz's questions vs benign LIMA / GSM8K prompts and CoCoNot's
benign look-alikes) and validated out of fold and on held-out evaluation prompts (XSTest, ALERT), which
it never trains on.

`rule_intent` is a transparent keyword rule (request cue + harmful goal) used only to cross-check
the classifier on a sample a reader can verify by eye.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..profiles import Section, Size, section
from ..risk.lexicon import RISK_ENTITIES, Lexicon, build_lexicon  # noqa: F401  (the labeller's explicit lexicon)

HARM_TYPES = ("IHD", "EHD", "MHD", "benign")



@section
class IntentSettings(Section):
    per_source: Size  # max prompts per training source; None = all
    max_length: int   # MiniLM tokens per prompt
    C: float
    folds: int        # out-of-fold scores for the training prompts
    threshold: float


@section
class LexiconSettings(Section):
    max_benign_docs: int  # prune HurtLex lemmas found in more benign texts than this


@section
class ExplicitSettings(Section):
    toxicity_threshold: float  # explicit when the toxicity BiLSTM gives any class at least this (or a lexicon hit)
    lexicon_weight: float      # the validated score: max class probability + lexicon_weight x min(hits, max_hits)
    max_hits: int


@section
class HarmTypeSettings(Section):
    """profiles.yaml section `harm_types` (a wing section: stage harm-types reads it)."""
    intent: IntentSettings
    lexicon: LexiconSettings
    explicit: ExplicitSettings
    label_per_dataset: Size  # prompts labelled per dataset; None = all
    xstest: Size             # XSTest prompts validating the intent signal; None = all 450
    rule_sample: int         # prompts compared with the hand-checkable rule


# Request cues and harmful goals of the cross-check rule (deliberately simple, readable).
REQUEST_CUES = (
    r"how (?:do|can|could|would|should|might|to) ", r"\bhow to\b", r"\bhelp me\b", r"\bteach me\b",
    r"\btell me how\b", r"\bways? to\b", r"\bbest way\b", r"\beasiest way\b", r"\bi (?:want|need|plan|am going|'m going) to\b",
    r"\bi wanna\b", r"\bgive me\b", r"\bcan you\b", r"\bwhat (?:are|is) (?:some|a good|the best)\b", r"\bshould i\b",
    r"\bwhere can i\b", r"\bwhat can i\b", r"\bany (?:tips|ideas|advice)\b",
)
HARMFUL_GOALS = (
    "kill", "murder", "hurt", "harm", "poison", "steal", "rob", "shoplift", "hack", "break into", "cheat", "scam",
    "defraud", "blackmail", "bully", "harass", "stalk", "kidnap", "smuggle", "launder", "bribe", "torture",
    "attack", "punch", "beat up", "burn down", "vandalize", "forge", "counterfeit", "spy on", "humiliate",
    "insult", "make fun of", "revenge", "get back at", "trick", "manipulate", "lie to", "sneak", "evade",
    "destroy", "threaten", "drug someone", "spike", "sabotage", "embezzle", "pirate", "get rid of", "fake",
)
EVASION_PHRASES = ("without getting caught", "without being caught", "get away with", "without anyone knowing",
                   "without them knowing", "without him knowing", "without her knowing", "not get caught",
                   "untraceable", "cover up")

_CUE = re.compile("|".join(REQUEST_CUES), re.I)
_GOAL = re.compile(r"\b(" + "|".join(re.escape(g) for g in HARMFUL_GOALS) + r")(?:s|es|ed|ing)?\b", re.I)
_EVASION = re.compile("|".join(re.escape(p) for p in EVASION_PHRASES), re.I)


# ---------------------------------------------------------------------------------------------
# explicit-content signal


@dataclass
class ExplicitSignal:
    """Lexicon hits and the toxicity classifier's largest class probability, crossed into one decision."""

    lexicon: Lexicon
    toxicity_classes: Callable[[Sequence[str]], np.ndarray]   # (n, classes) probabilities, e.g. the Jigsaw BiLSTM
    toxicity_threshold: float = 0.5
    lexicon_weight: float = 0.2
    max_hits: int = 3

    def toxicity(self, texts: Sequence[str]) -> np.ndarray:
        probs = np.asarray(self.toxicity_classes(list(texts)), dtype=float)
        return probs.max(1) if len(texts) else np.zeros(0)

    def score(self, texts: Sequence[str], toxicity: Sequence[float] | None = None) -> np.ndarray:
        """The validated continuous score: max class probability + lexicon_weight x min(hits, max_hits)."""
        tox = self.toxicity(texts) if toxicity is None else np.asarray(toxicity, dtype=float)
        hits = np.array([min(len(self.lexicon.matches(t)), self.max_hits) for t in texts], dtype=float)
        return tox + self.lexicon_weight * hits

    def explicit(self, hits: int, toxicity: float) -> bool:
        return hits > 0 or toxicity >= self.toxicity_threshold


# ---------------------------------------------------------------------------------------------
# harmful-intent signal


@dataclass
class IntentClassifier:
    """Logistic regression on MiniLM embeddings: P(prompt carries harmful intent)."""

    model: object
    embed: Callable[[Sequence[str]], np.ndarray]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros(0)
        return self.model.predict_proba(self.embed(list(texts)))[:, 1]


def _logreg(seed: int, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed)


def train_intent(texts: Sequence[str], labels: Sequence[int], embed: Callable[[Sequence[str]], np.ndarray],
                 seed: int = 0, c: float = 1.0, folds: int = 5) -> tuple[IntentClassifier, np.ndarray]:
    """Fit on all rows; also return out-of-fold probabilities (each row scored by a model that never saw it)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels, dtype=int)
    if set(np.unique(y)) != {0, 1}:
        raise ValueError("intent training needs both harmful (1) and benign (0) prompts")
    x = embed(list(texts))
    oof = np.zeros(len(y))
    for train_idx, held_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        oof[held_idx] = _logreg(seed, c).fit(x[train_idx], y[train_idx]).predict_proba(x[held_idx])[:, 1]
    return IntentClassifier(_logreg(seed, c).fit(x, y), embed), oof


def binary_metrics(labels: Sequence[int], proba: Sequence[float], threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1 (positive = harmful) and ROC-AUC where both classes occur."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    y, p = np.asarray(labels, dtype=int), np.asarray(proba, dtype=float)
    pred = (p >= threshold).astype(int)
    out = {"n": int(len(y)), "positives": int(y.sum()), "accuracy": float(accuracy_score(y, pred)),
           "recall": float(recall_score(y, pred, zero_division=0))}
    if 0 < y.sum() < len(y):
        out.update(precision=float(precision_score(y, pred, zero_division=0)),
                   f1=float(f1_score(y, pred, zero_division=0)), roc_auc=float(roc_auc_score(y, p)))
    return out


# ---------------------------------------------------------------------------------------------
# the decision


def flags_by_type(types: Sequence[str], labels: Sequence[int], proba: Sequence[float], threshold: float) -> list[dict]:
    """Share of prompts the intent signal flags per XSTest type (and label), with a Wilson 95% interval: which kinds
    of safe look-alike it mistakes for harmful requests, and which unsafe kinds it misses."""
    from ..stats import wilson_interval

    groups: dict[tuple[str, int], list[bool]] = {}
    for kind, label, p in zip(types, labels, proba):
        groups.setdefault((kind, int(label)), []).append(bool(p >= threshold))
    return [{"type": kind, "label": "unsafe" if label else "safe", "n": len(flags), "flagged": sum(flags),
             "flagged_share": sum(flags) / len(flags), "flagged_ci95": wilson_interval(sum(flags), len(flags))}
            for (kind, label), flags in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def harm_type(explicit: bool, intent: bool) -> str:
    if explicit and intent:
        return "MHD"
    if explicit:
        return "EHD"
    return "IHD" if intent else "benign"


def label_prompts(prompts: Sequence[str], signal: ExplicitSignal | Lexicon, intent_proba: Sequence[float],
                  threshold: float = 0.5, toxicity: Sequence[float] | None = None) -> list[dict]:
    """One decision per prompt with its evidence (matched terms and their sources, toxicity, intent probability).

    `signal` is the explicit signal (an `ExplicitSignal`, or a bare `Lexicon`: terms only); `toxicity`, the
    signal's per-prompt toxicity when already computed."""
    if len(prompts) != len(intent_proba):
        raise ValueError(f"{len(prompts)} prompts but {len(intent_proba)} intent probabilities")
    if isinstance(signal, Lexicon):
        lexicon, tox = signal, [None] * len(prompts)
    else:
        lexicon, tox = signal.lexicon, signal.toxicity(prompts) if toxicity is None else list(toxicity)
    rows = []
    for prompt, p, t in zip(prompts, intent_proba, tox):
        terms = lexicon.matches(prompt)
        explicit = bool(terms) if t is None else signal.explicit(len(terms), float(t))
        intent = float(p) >= threshold
        kind = harm_type(explicit, intent)
        toxic = "" if t is None else (f"; toxicity {float(t):.2f} {'>=' if float(t) >= signal.toxicity_threshold else '<'} "
                                      f"{signal.toxicity_threshold:g}")
        evidence = (f"explicit: {', '.join(f'{w} ({s})' for w, s in terms) or 'none'}{toxic}; "
                    f"intent p={float(p):.2f} {'>=' if intent else '<'} {threshold}")
        rows.append({"prompt": prompt, "harm_type": kind, "explicit": explicit, "explicit_terms": [w for w, _ in terms],
                     "explicit_sources": [s for _, s in terms], "toxicity": None if t is None else float(t),
                     "intent_proba": float(p), "evidence": evidence})
    return rows


def rule_intent(text: str) -> tuple[bool, str]:
    """Hand-checkable rule: (a request cue and a harmful goal) or an evasion phrase; returns the evidence."""
    evasion = _EVASION.search(text)
    if evasion:
        return True, f"evasion '{evasion.group(0)}'"
    cue, goal = _CUE.search(text), _GOAL.search(text)
    if cue and goal:
        return True, f"cue '{cue.group(0).strip()}' + goal '{goal.group(0)}'"
    return False, ""


def agreement(a: Sequence, b: Sequence) -> dict:
    """Raw agreement and Cohen's kappa between two labelings of the same items."""
    from sklearn.metrics import cohen_kappa_score

    a, b = list(a), list(b)
    if len(a) != len(b) or not a:
        raise ValueError("agreement needs two equally long, non-empty labelings")
    same = sum(x == y for x, y in zip(a, b))
    kappa = float(cohen_kappa_score(a, b)) if len(set(a) | set(b)) > 1 else 1.0
    return {"n": len(a), "agreement": same / len(a), "cohen_kappa": kappa}


# ---------------------------------------------------------------------------------------------
# training data and scoring helpers the data notebook uses


class CachedEmbedder:
    """`encoders.embed` with a per-process cache: each distinct text is embedded once per notebook."""

    def __init__(self, max_length: int = 128, progress: bool = True):
        self.max_length, self.progress, self._cache = max_length, progress, {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        from .. import encoders

        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if new:
            for text, vector in zip(new, encoders.embed(new, max_length=self.max_length, progress=self.progress)):
                self._cache[text] = vector
        return np.stack([self._cache[t] for t in texts]) if len(texts) else np.zeros((0, 384), np.float32)


def _sample(texts: Sequence[str], n: int | None, seed: int) -> list[str]:
    texts = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    if n is None or n >= len(texts):
        return texts
    rng = np.random.default_rng(seed)
    return [texts[i] for i in sorted(rng.choice(len(texts), n, replace=False))]


def intent_training_set(pku_prompts: Sequence[str], per_source: int | None, seed: int = 0) -> list[dict]:
    """Harmful prompts (HH-RLHF red-team first turns, the given PKU prompts, GPTFuzz's 80 questions) vs benign
    (LIMA, GSM8K train, CoCoNot's benign look-alikes: its preference and contrast prompts, which sound harmful
    and are not, so the classifier learns intent rather than topic).

    Never ALERT, adversarial ALERT or XSTest: those are evaluation prompts, used only to validate.
    The caller passes PKU prompts of the judge_train split only. Prompts present in both classes are dropped.
    """
    from .. import data
    from . import paper_b_sources  # noqa: F401  (registers the CoCoNot sets)
    from ..judges import label_sources  # noqa: F401  (registers the GPTFuzz loader)

    sources = {
        ("hh_rlhf", 1): data.load("hh_rlhf_harmless")["prompt"],
        ("pku_judge_train", 1): list(pku_prompts),
        ("gptfuzz_questions", 1): data.load("gptfuzz")["prompt"],
        ("lima", 0): data.load("lima")["prompt"],
        ("gsm8k_train", 0): data.load("gsm8k", split="train")["question"],
        ("coconot_pref", 0): data.load("coconot_pref")["prompt"],
        ("coconot_contrast", 0): data.load("coconot_contrast")["prompt"],
    }
    rows = [{"prompt": t, "label": label, "source": name}
            for (name, label), texts in sources.items() for t in _sample(texts, per_source, seed)]
    labels_of: dict[str, set[int]] = {}
    for r in rows:
        labels_of.setdefault(r["prompt"], set()).add(r["label"])
    seen: set[str] = set()
    out = []
    for r in rows:
        if len(labels_of[r["prompt"]]) == 1 and r["prompt"] not in seen:
            seen.add(r["prompt"])
            out.append(r)
    return out


def intent_scores(texts: Sequence[str], classifier: IntentClassifier, train_texts: Sequence[str],
                  oof: Sequence[float]) -> np.ndarray:
    """Intent probabilities, out of fold for texts the classifier trained on (no in-sample optimism)."""
    held = dict(zip(train_texts, oof))
    unseen = [t for t in texts if t not in held]
    fresh = dict(zip(unseen, classifier.predict_proba(unseen))) if unseen else {}
    return np.array([held[t] if t in held else fresh[t] for t in texts], dtype=float)


# ---------------------------------------------------------------------------------------------
# the stage's pieces (notebooks/02b_harm_types.ipynb)

# issue floors for the labeller's two signals (paper B's types are only as good as these)
FLOORS = {"intent_xstest_accuracy": 0.85, "safe_flagged_rate": 0.15, "explicit_auc": 0.85}


def sample_prompts(prompts: Sequence[str], n: int | None, seed: int) -> list[str]:
    """The distinct prompts in order, or a seeded sample of n of them (kept in order)."""
    prompts = list(dict.fromkeys(prompts))
    if n and len(prompts) > n:
        rng = np.random.default_rng(seed)
        prompts = [prompts[i] for i in sorted(rng.choice(len(prompts), n, replace=False))]
    return prompts


def label_dataset(prompts: Sequence[str], signal: ExplicitSignal, classifier: IntentClassifier, train_texts: Sequence[str],
                  oof: Sequence[float], threshold: float, per_dataset: int | None, seed: int) -> list[dict]:
    """label_prompts over a dataset's distinct prompts (sampled to per_dataset), intent scored out of fold."""
    prompts = sample_prompts(prompts, per_dataset, seed)
    return label_prompts(prompts, signal, intent_scores(prompts, classifier, train_texts, oof), threshold)


def explicit_validation(rows: Sequence[dict], signal: ExplicitSignal, categories: Sequence[str]) -> dict:
    """The explicit signal against human category labels, over rows whose every category is labelled: ROC-AUC of
    'any category flagged' for the signal's score (and for each of its two parts alone), and the decision's
    flagged share, recall and false-positive rate."""
    from sklearn.metrics import roc_auc_score

    labelled = [r for r in rows if all(r.get(c) is not None for c in categories)]
    texts = [r["prompt"] for r in labelled]
    y = np.array([int(any(r[c] for c in categories)) for r in labelled])
    hits = np.array([len(signal.lexicon.matches(t)) for t in texts], dtype=float)
    tox = signal.toxicity(texts)
    flagged = np.array([signal.explicit(int(h), t) for h, t in zip(hits, tox)])
    return {"n": int(len(y)), "positives": int(y.sum()), "roc_auc": float(roc_auc_score(y, signal.score(texts, tox))),
            "roc_auc_lexicon_only": float(roc_auc_score(y, hits)), "roc_auc_toxicity_only": float(roc_auc_score(y, tox)),
            "flagged": float(flagged.mean()), "recall": float(flagged[y == 1].mean()),
            "false_positive_rate": float(flagged[y == 0].mean())}


def validation_summary(validation: dict) -> dict:
    """The three numbers the labeller is held to, with the floors and whether each is met."""
    values = {"intent_xstest_accuracy": validation["xstest"]["accuracy"],
              "safe_flagged_rate": validation["xstest"]["safe_prompts_flagged"],
              "explicit_auc": validation["explicit_moderation"]["roc_auc"]}
    met = {"intent_xstest_accuracy": values["intent_xstest_accuracy"] >= FLOORS["intent_xstest_accuracy"],
           "safe_flagged_rate": values["safe_flagged_rate"] <= FLOORS["safe_flagged_rate"],
           "explicit_auc": values["explicit_auc"] >= FLOORS["explicit_auc"]}
    return {**values, "floors": dict(FLOORS), "floor_met": met}
