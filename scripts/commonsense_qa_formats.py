"""Why base SmolLM2 scores below chance on the book's CommonsenseQA, and what its published figure measures.

The shipped copy (general/mc/commonsense_qa.jsonl, 1,221 validation questions, 4 of the 5 options kept) is in
the lettered multiple-choice format (MCF): the options are listed in the question as "A. ...", and the scored
continuations are the letters " A" ... " D". SmolLM2's model card reports CommonsenseQA from the SmolLM
evaluation suite (lighteval), which scores the cloze format (CF): the bare question, each option's text as the
continuation, acc_norm (log-likelihood per character). This script scores the same questions in three formats
through lm-eval 0.4.13 (capability.harness, the engine of the gpu profile) and prints accuracy with its stderr:

  mcf            the shipped items: "Question: ...\\nChoices:\\nA. ...\\nAnswer:" + " A" | " B" | ...
  cloze-smollm   the SmolLM suite's form: the question alone + " <option text>" (the book's items since
                 2026-12-04: capability.mc_items)
  cloze-qa       lm-eval's ARC-style form: "Question: ...\\nAnswer:" + " <option text>"

    python scripts/commonsense_qa_formats.py [--n 400] [--seed 0] [--model smollm2-135m-instruct]

Prints figures; asserts nothing. Chance is 0.25 here (4 options), 0.20 on the 5-option original.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from safealign import data, models
from safealign.capability import benchmarks as capability, harness
from safealign.capability.benchmarks import MCItem


def formats(n: int, seed: int) -> dict[str, list[MCItem]]:
    ds = data.load("mc", task="commonsense_qa")
    mcf, qa = [], []
    for i in capability._sample(len(ds), n, seed):
        row = ds[i]
        question, options = capability.commonsense_qa_parts(row["query"])
        if len(options) != len(row["choices"]):
            raise ValueError(f"commonsense_qa row {i}: {len(options)} options listed, {len(row['choices'])} letters")
        mcf.append(MCItem([(row["query"], f" {c}") for c in row["choices"]], row["gold"]))
        qa.append(MCItem([(f"Question: {question}\nAnswer:", f" {o}") for o in options], row["gold"]))
    smollm = capability.mc_items("commonsense_qa", n, seed)  # the same rows: the same seeded sample
    return {"mcf": mcf, "cloze-smollm": smollm, "cloze-qa": qa}


def stderr(p: float, n: int) -> float:
    """lm-eval's mean_stderr of a 0/1 metric: the sample standard deviation over sqrt(n)."""
    return math.sqrt(p * (1 - p) * n / (n - 1) / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()
    tasks = formats(args.n, args.seed)
    path = str(models.local_path(args.model))
    start = time.time()
    with tempfile.TemporaryDirectory() as workdir:
        scores = harness.run(tasks, "hf", harness.model_args("hf", path), workdir, batch_size=16, seed=args.seed)
    print(f"CommonsenseQA, {args.model}, {args.n} validation questions (seed {args.seed}), lm-eval 0.4.13, "
          f"{time.time() - start:.0f} s")
    print(f"{'format':<14} {'acc':>6} {'±se':>6} {'acc_norm':>9} {'±se':>6}  share of answers on option 1..4")
    for name, s in scores.items():
        n = s["n"]
        shares = " ".join(f"{sum(p == k for p in s['per_item']) / n:.2f}" for k in range(4))
        print(f"{name:<14} {s['acc']:6.3f} {stderr(s['acc'], n):6.3f} {s['acc_norm']:9.3f} "
              f"{stderr(s['acc_norm'], n):6.3f}  {shares}")


if __name__ == "__main__":
    main()
