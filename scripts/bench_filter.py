"""Per-token latency of harmful-token filtering (paper B Alg. 1) against plain greedy (issue 15; goal <= 2x).

    python scripts/bench_filter.py --prompts 32 --batch-size 32 --new-tokens 64

Runs SmolLM2 greedy on XSTest's safe prompts three ways: plain, with the filter (the seeded risk store,
w = 0), and with the filter plus the lexical token reward (w = 1, k = 10). Prints seconds, new tokens
per second and the ratio to plain greedy; how many candidates were blocked; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import LogitsProcessorList

    from safealign import data, models
    from safealign.generate import hf
    from safealign.generate.filtering import RiskFilter
    from safealign.judges.token_reward import LexicalTokenReward
    from safealign.risk import EntityMatcher
    from safealign.risk.seed import shipped_seed_rows

    model, tokenizer = models.load_model("smollm2-135m-instruct")
    xs = data.load("xstest_prompts")
    prompts = [p for p, label in zip(xs["prompt"], xs["label"]) if label == "safe"][: args.prompts]
    rows, _ = shipped_seed_rows()
    matcher = EntityMatcher({r["entity"]: r["category"] for r in rows})
    reward = LexicalTokenReward(tokenizer, [r for r in data.load("toxic_spans") if r["split"] == "train"])
    kwargs = dict(max_new_tokens=args.new_tokens, batch_size=args.batch_size)

    def timed(processor):
        start = time.perf_counter()
        answers = hf.generate(model, tokenizer, prompts, logits_processor=processor, **kwargs)
        seconds = time.perf_counter() - start
        new = sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
        return seconds, new, answers

    plain_s, plain_tokens, plain = timed(None)
    print(f"plain greedy: {plain_s:.1f} s, {plain_tokens / plain_s:.1f} new tokens/s ({len(prompts)} prompts, "
          f"store of {len(matcher)} entities)")
    for name, f in (("filter (store, w=0, k=10)", RiskFilter(tokenizer, matcher, k=10)),
                    ("filter + lexical reward (w=1, k=10)", RiskFilter(tokenizer, matcher, k=10, weight=1.0, reward=reward))):
        seconds, tokens, answers = timed(LogitsProcessorList([f]))
        same = sum(a == b for a, b in zip(answers, plain))
        print(f"{name}: {seconds:.1f} s, {tokens / seconds:.1f} new tokens/s, {seconds / plain_s:.2f}x plain; "
              f"{f.trace.blocked} candidates blocked, {f.trace.ended} answers ended; {same}/{len(plain)} answers as plain")


if __name__ == "__main__":
    main()
