"""Probe the two signals of paper B's harm-type labeller against labels they never train on (issue 13).

    python scripts/probe_harmtype_signals.py                 # MiniLM + logistic regression variants (~5 min)
    python scripts/probe_harmtype_signals.py --cross-encoder # also fine-tune MiniLM on intent (~20-40 min here)

Intent: trained on harmful requests (HH-RLHF red-team first turns, PKU judge_train prompts, CoCoNot
non-compliance "requests with safety concerns") against benign prompts (LIMA, GSM8K train, CoCoNot's
preference prompts: benign look-alikes); validated on XSTest's 250 safe + 200 unsafe prompts and
CoCoNot's contrast prompts, never trained on. Floor (issue 13): accuracy >= 0.85 on XSTest with at most
15% of safe prompts flagged.
Explicit content: logistic regression on MiniLM embeddings of DecodingTrust prompts and continuations
(Perspective toxicity >= 0.5), and HurtLex/entity lexicon hits, validated by ROC-AUC on the OpenAI
moderation set's human labels (any category). Floor: ROC-AUC >= 0.85.
Prints one line per variant; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from safealign import data, encoders, profiles
from safealign.data import curation, harmtype, paper_b_sources  # noqa: F401  (registers paper B's datasets)
from safealign.judges import label_sources  # noqa: F401  (registers CoCoNot's contrast / preference sets)


def sample(texts, n, seed=0):
    texts = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    if n >= len(texts):
        return texts
    return [texts[i] for i in sorted(np.random.default_rng(seed).choice(len(texts), n, replace=False))]


def intent_sources(settings, per_source):
    pairs = curation.safety_pairs(settings)
    judge_prompts = [p for p, s in zip(pairs["prompt"], pairs["split"]) if s == "judge_train"]
    unsafe_coconot = [r["prompt"] for r in data.load("coconot_noncompliance")
                      if r["category"] == "Requests with safety concerns"]
    return {
        "hh_rlhf": (sample(data.load("hh_rlhf_harmless")["prompt"], per_source), 1),
        "pku_judge_train": (sample(judge_prompts, per_source), 1),
        "coconot_unsafe": (unsafe_coconot, 1),
        "lima": (sample(data.load("lima")["prompt"], per_source), 0),
        "gsm8k_train": (sample(data.load("gsm8k", split="train")["question"], per_source), 0),
        "coconot_pref": (list(data.load("coconot_pref")["prompt"]), 0),
    }


def report(name, p, y, contrast_p, threshold=0.5):
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    pred = p >= threshold
    print(f"{name:55s} acc={np.mean(pred == y):.3f} bal={balanced_accuracy_score(y, pred):.3f} "
          f"safe_flagged={pred[y == 0].mean():.3f} unsafe_recall={pred[y == 1].mean():.3f} "
          f"auc={roc_auc_score(y, p):.3f} coconot_contrast_flagged={np.mean(contrast_p >= threshold):.3f}", flush=True)


def probe_intent(settings, per_source, cross_encoder):
    from sklearn.linear_model import LogisticRegression

    sources = intent_sources(settings, per_source)
    xs = data.load("xstest_prompts")
    xs_text, xs_y = list(xs["prompt"]), np.array([label == "unsafe" for label in xs["label"]], dtype=int)
    contrast = list(data.load("coconot_contrast")["prompt"])
    embed = harmtype.CachedEmbedder(max_length=128, progress=False)
    base = ["hh_rlhf", "pku_judge_train", "lima", "gsm8k_train"]
    for names in (base, base + ["coconot_pref"], list(sources)):
        x = np.concatenate([embed(sources[n][0]) for n in names])
        y = np.concatenate([[sources[n][1]] * len(sources[n][0]) for n in names])
        model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x, y)
        report("minilm-lr " + "+".join(names), model.predict_proba(embed(xs_text))[:, 1], xs_y,
               model.predict_proba(embed(contrast))[:, 1])
    if cross_encoder:
        from safealign.judges import cross_encoder as ce

        texts, labels = [], []
        for name, (t, label) in sources.items():
            t = t[:1000] if name in base else t
            copies = 2 if name.startswith("coconot") else 1  # look-alikes twice: they are few
            texts += t * copies
            labels += [label] * len(t) * copies
        recipe = ce.CrossEncoderRecipe(max_length=48, epochs=1, learning_rate=5e-5, batch_size=32,
                                       warmup_ratio=0.06, weight_decay=0.01, seed=settings.seed)
        with tempfile.TemporaryDirectory() as tmp:
            judge = ce.train(texts, [""] * len(texts), labels, recipe, Path(tmp) / "intent")
            report("minilm-cross-encoder (1 epoch, look-alikes x2)",
                   judge.unsafe_probability(xs_text, [""] * len(xs_text), progress=False), xs_y,
                   judge.unsafe_probability(contrast, [""] * len(contrast), progress=False))


def probe_explicit():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    mod = data.load("openai_moderation")
    y = np.array(mod["any_harm"])
    x_mod = encoders.embed(list(mod["prompt"]), max_length=128, progress=False)
    dt = [r for r in data.load("decodingtrust_toxicity")]
    texts = [r["prompt"] for r in dt] + [r["continuation"] for r in dt if r["continuation"] and r["continuation_toxicity"] is not None]
    tox = [r["prompt_toxicity"] for r in dt] + [r["continuation_toxicity"] for r in dt
                                                if r["continuation"] and r["continuation_toxicity"] is not None]
    model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(
        encoders.embed(texts, max_length=128, progress=False), np.array(tox) >= 0.5)
    p = model.predict_proba(x_mod)[:, 1]
    print(f"explicit: minilm-lr on DecodingTrust (Perspective >= 0.5) -> moderation any-harm ROC-AUC {roc_auc_score(y, p):.3f}")
    for code in paper_b_sources.MODERATION_CATEGORIES:
        labelled = [i for i, v in enumerate(mod[code]) if v is not None]
        yy = np.array([mod[code][i] for i in labelled])
        if 0 < yy.sum() < len(yy):
            print(f"  {code}: n={len(yy)} positives={int(yy.sum())} ROC-AUC {roc_auc_score(yy, p[labelled]):.3f}")
    benign = [f"{r['prompt']}\n{r['response']}" for r in data.load("lima")] + list(data.load("gsm8k", split="train")["question"])
    lexicon = harmtype.build_lexicon(data.load("hurtlex"), benign, max_benign_docs=1)
    hits = np.array([len(lexicon.matches(t)) for t in mod["prompt"]])
    print(f"explicit: lexicon hits -> ROC-AUC {roc_auc_score(y, hits):.3f}; flags {np.mean(hits > 0):.3f} of prompts, "
          f"recall {np.mean(hits[y == 1] > 0):.3f}, false positives {np.mean(hits[y == 0] > 0):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--per-source", type=int, default=2000)
    parser.add_argument("--cross-encoder", action="store_true")
    args = parser.parse_args()
    settings = profiles.load(args.profile)
    probe_intent(settings, args.per_source, args.cross_encoder)
    probe_explicit()


if __name__ == "__main__":
    main()
