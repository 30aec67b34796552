"""Candidates for paper B's harm-type labeller, measured on the labels the floors name (prints figures).

Intent signal (validated on XSTest's 250 safe + 200 unsafe prompts, never trained on):
  minilm-lr-plain     frozen MiniLM embeddings + logistic regression on HH-RLHF red-team and PKU judge_train
                      prompts vs LIMA / GSM8K train (the stage's set before 2026-12-04)
  minilm-lr           the stage's training set: the same plus GPTFuzz's questions (harmful) and CoCoNot's
                      benign look-alike preference and contrast prompts (benign)
  minilm-lr+unsafe    the stage's set plus CoCoNot's "requests with safety concerns" (harmful)
  minilm-finetuned    MiniLM fine-tuned end to end on the minilm-lr+unsafe set
Explicit signal (validated on the OpenAI moderation set's human labels, 755 fully labelled prompts):
  lexicon hits (the stage's), the Jigsaw BiLSTM toxicity scorer's six heads.

    python scripts/harmtype_candidates.py [--per-source 2000] [--epochs 2] [--skip-finetune]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from safealign import data, profiles, runtime
from safealign.data import curation, harmtype, paper_b_sources
from safealign.judges import cross_encoder, label_sources  # noqa: F401  (registers coconot_pref)
from safealign.judges.toxicity import JIGSAW_CLASSES, BiLSTMToxicityScorer

COCONOT_HARMFUL = ("dangerous or sensitive topics", "privacy violations", "triggers for offensive language",
                   "copyright violations", "wildchats", "misinformation")


LOOKALIKE_SOURCES = ("coconot_pref", "coconot_contrast", "gptfuzz_questions")


def coconot_unsafe_rows() -> list[dict]:
    return [{"prompt": r["prompt"], "label": 1, "source": "coconot_unsafe"} for r in data.load("coconot_noncompliance")
            if r["category"] == "Requests with safety concerns" and r["subcategory"] in COCONOT_HARMFUL]


def report(name: str, y: np.ndarray, p: np.ndarray) -> None:
    for th in (0.5, 0.7, 0.9):
        pred = p >= th
        print(f"{name:22s} threshold {th}: XSTest accuracy {(pred == y).mean():.3f}, safe flagged {pred[y == 0].mean():.3f}, "
              f"unsafe recall {pred[y == 1].mean():.3f}, ROC-AUC {roc_auc_score(y, p):.3f}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--per-source", type=int, default=2000)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--skip-finetune", action="store_true")
    args = ap.parse_args(argv)
    started = time.time()
    settings = profiles.load(args.profile)
    runtime.setup(settings)
    pairs = curation.safety_pairs(settings)
    judge_prompts = list(dict.fromkeys(p for p, s in zip(pairs["prompt"], pairs["split"]) if s == "judge_train"))
    stage_rows = harmtype.intent_training_set(judge_prompts, args.per_source, seed=settings["seed"])
    plain_rows = [r for r in stage_rows if r["source"] not in LOOKALIKE_SOURCES]
    extended = stage_rows + coconot_unsafe_rows()
    xstest = data.load("xstest_prompts")
    y, prompts = np.array([int(l == "unsafe") for l in xstest["label"]]), list(xstest["prompt"])

    embed = harmtype.CachedEmbedder(max_length=128, progress=False)
    for name, rows in (("minilm-lr-plain", plain_rows), ("minilm-lr", stage_rows), ("minilm-lr+unsafe", extended)):
        clf, _ = harmtype.train_intent([r["prompt"] for r in rows], [r["label"] for r in rows], embed,
                                       seed=settings["seed"], folds=3)
        report(name, y, clf.predict_proba(prompts))
    if not args.skip_finetune:
        recipe = cross_encoder.CrossEncoderRecipe(max_length=64, epochs=args.epochs, learning_rate=5e-5, batch_size=32,
                                                  warmup_ratio=0.1, weight_decay=0.01, seed=settings["seed"])
        with tempfile.TemporaryDirectory() as tmp:
            judge = cross_encoder.train([r["prompt"] for r in extended], [""] * len(extended),
                                        [bool(r["label"]) for r in extended], recipe, Path(tmp) / "intent")
            report("minilm-finetuned", y, judge.unsafe_probability(prompts, [""] * len(prompts), progress=False))

    cats = paper_b_sources.MODERATION_CATEGORIES
    rows = [r for r in data.load("openai_moderation") if all(r.get(c) is not None for c in cats)]
    harmful = np.array([int(any(r[c] for c in cats)) for r in rows])
    texts = [r["prompt"] for r in rows]
    benign = [f"{r['prompt']}\n{r['response']}" for r in data.load("lima")] + list(data.load("gsm8k", split="train")["question"])
    lexicon = harmtype.build_lexicon(data.load("hurtlex"), benign, max_benign_docs=1)
    print(f"explicit, {len(rows)} moderation prompts ({harmful.sum()} harmful): ROC-AUC lexicon hits "
          f"{roc_auc_score(harmful, [len(lexicon.matches(t)) for t in texts]):.3f}")
    heads = BiLSTMToxicityScorer().classes(texts)
    print("  BiLSTM toxicity heads: " + ", ".join(f"{n} {roc_auc_score(harmful, heads[:, i]):.3f}"
                                                 for i, n in enumerate(JIGSAW_CLASSES)))
    print(f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
