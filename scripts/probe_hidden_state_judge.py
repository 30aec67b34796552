"""Probe: does a linear head on SmolLM2-135M hidden states beat the TF-IDF content model on PKU?

    python scripts/probe_hidden_state_judge.py --profile cpu [--layers 12 18 24] [--max-length 320]

Features: the mean of one layer's hidden states over the *response* tokens of the chat-formatted
(prompt, response). Logistic regression (standardised features) picked by 5-fold CV grouped by prompt
on `judge_train`; `test` is only reported. Prints one row per (layer, C). This is a measurement for the
judge's notes, not a judge the pipeline uses: it runs ~3 responses/s on two cores (the offline judge's
goal is 100/s). Measured 2026-11-22 on `cpu`: the best CV row (layer 24, C 0.001) reached 0.638 on
PKU test (ROC-AUC 0.668) against the TF-IDF content model's 0.571, still below the 0.70 floor.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def response_means(model, tokenizer, prompts, responses, layers, max_length, batch_size=8):
    import torch
    from tqdm.auto import tqdm

    heads = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             for p in prompts]
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                           tokenize=False) for p, r in zip(prompts, responses)]
    starts = [len(tokenizer(h)["input_ids"]) for h in heads]
    out = np.zeros((len(texts), len(layers), model.config.hidden_size), np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    tokenizer.padding_side = "right"
    with torch.no_grad():
        for b in tqdm(range(0, len(texts), batch_size), desc="hidden states", unit="batch"):
            idx = order[b:b + batch_size]
            enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            hidden = model(**enc, output_hidden_states=True).hidden_states
            mask = enc["attention_mask"].clone()
            for row, i in enumerate(idx):
                mask[row, :min(starts[i], mask.shape[1] - 1)] = 0  # response tokens only
            weights = mask.unsqueeze(-1).float()
            for j, layer in enumerate(layers):
                out[idx, j] = ((hidden[layer] * weights).sum(1) / weights.sum(1).clamp(min=1)).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--layers", type=int, nargs="+", default=[12, 18, 24])
    parser.add_argument("--C", type=float, nargs="+", default=[0.0003, 0.001, 0.003])
    parser.add_argument("--max-length", type=int, default=320)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from safealign import models, profiles, runtime
    from safealign.judges.offline import judge_rows

    settings = profiles.load(args.profile)
    runtime.setup(settings)
    model, tokenizer = models.load_model(settings["policy_model"])
    train, test = judge_rows(settings, "judge_train"), judge_rows(settings, "test")
    x_train = response_means(model, tokenizer, train["prompt"], train["response"], args.layers, args.max_length)
    x_test = response_means(model, tokenizer, test["prompt"], test["response"], args.layers, args.max_length)
    y_train, y_test = np.array(train["unsafe"], int), np.array(test["unsafe"], int)

    def head(C):
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))

    print(f"profile={args.profile} judge_train={len(y_train)} test={len(y_test)} model={settings['policy_model']}")
    print(f"{'layer':>5} {'C':>7} {'cv acc':>7} {'cv auc':>7} {'test acc':>8} {'test auc':>8}")
    for j, layer in enumerate(args.layers):
        for C in args.C:
            oof = np.zeros(len(y_train))
            for fit, held in GroupKFold(5).split(x_train, y_train, groups=train["prompt"]):
                oof[held] = head(C).fit(x_train[fit, j], y_train[fit]).predict_proba(x_train[held, j])[:, 1]
            p = head(C).fit(x_train[:, j], y_train).predict_proba(x_test[:, j])[:, 1]
            print(f"{layer:>5} {C:>7g} {((oof >= .5) == y_train).mean():7.3f} {roc_auc_score(y_train, oof):7.3f} "
                  f"{((p >= .5) == y_test).mean():8.3f} {roc_auc_score(y_test, p):8.3f}")


if __name__ == "__main__":
    main()
