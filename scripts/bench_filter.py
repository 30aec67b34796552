"""Per-token latency of harmful-token filtering (paper B Alg. 1) against plain greedy (issue 15; goal <= 2x).

    python scripts/bench_filter.py --prompts 32 --batch-size 32 --new-tokens 64

Runs SmolLM2 greedy on XSTest's safe prompts three ways: plain, with the filter (the seeded risk store,
w = 0), and with the filter plus the lexical token reward (w = 1, k = 10). One warm-up batch, then
--repeats rounds with the order of the three reversed every other round (filter_study.interleaved_timings).
Prints the median seconds, new tokens per second and the per-token ratio to plain greedy; how many
candidates were blocked; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import LogitsProcessorList

    from safealign import data, models
    from safealign.generate import filter_study, hf
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

    filters = {
        "plain greedy": lambda: None,
        "filter (store, w=0, k=10)": lambda: RiskFilter(tokenizer, matcher, k=10),
        "filter + lexical reward (w=1, k=10)": lambda: RiskFilter(tokenizer, matcher, k=10, weight=1.0, reward=reward),
    }
    last = {}  # the latest round's filter and answers per setting

    def run(name):
        f = filters[name]()
        answers = hf.generate(model, tokenizer, prompts, logits_processor=LogitsProcessorList([f]) if f else None, **kwargs)
        last[name] = (f, answers)

    hf.generate(model, tokenizer, prompts[: args.batch_size], **kwargs)  # warm-up
    seconds = filter_study.interleaved_timings({name: (lambda name=name: run(name)) for name in filters}, args.repeats)
    plain = last["plain greedy"][1]
    per_token = {}
    for name, rounds in seconds.items():
        f, answers = last[name]
        tokens = sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
        median = statistics.median(rounds)
        per_token[name] = median / tokens
        line = (f"{name}: median {median:.1f} s of {args.repeats} rounds {[round(x, 1) for x in rounds]}, "
                f"{tokens / median:.1f} new tokens/s, {per_token[name] / per_token['plain greedy']:.2f}x plain per token")
        if f is not None:
            same = sum(a == b for a, b in zip(answers, plain))
            line += (f"; {f.trace.blocked} candidates blocked, {f.trace.ended} answers ended; "
                     f"{same}/{len(plain)} answers as plain")
        else:
            line += f" ({len(prompts)} prompts, store of {len(matcher)} entities)"
        print(line)


if __name__ == "__main__":
    main()
