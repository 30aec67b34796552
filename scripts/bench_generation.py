"""Batched generation against a one-prompt-at-a-time loop, on the same ALERT prompts.

    python scripts/bench_generation.py --model smollm2-135m-instruct --prompts 32 --batch-size 32

Prints wall time, prompts/s and generated tokens/s of both, the speed-up, and how many greedy
answers are identical (left padding can flip a near-tie in fp32, so a few may differ).
Timings are noisy when other jobs share the cores.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from safealign import data, evaluate, models
    from safealign.generate import hf

    torch.set_num_threads(args.threads)
    model, tokenizer = models.load_model(args.model)
    alert = data.load("alert")
    idx = evaluate.stratified_indices(alert["category"], None, seed=0)
    prompts = alert.select(sorted(idx[:: max(1, len(idx) // args.prompts)][: args.prompts]))["prompt"]

    def run(batch_size: int) -> tuple[float, list[str]]:
        start = time.perf_counter()
        out = hf.generate(model, tokenizer, prompts, max_new_tokens=args.max_new_tokens,
                                  batch_size=batch_size, desc=f"batch {batch_size}")
        return time.perf_counter() - start, out

    hf.generate(model, tokenizer, prompts[:2], max_new_tokens=4)  # warm-up
    t_batch, batched = run(args.batch_size)
    t_loop, looped = run(1)
    tokens = lambda texts: sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in texts)
    same = sum(a == b for a, b in zip(batched, looped))
    print(f"model {args.model}, {len(prompts)} ALERT prompts, greedy, max_new_tokens={args.max_new_tokens}, "
          f"{args.threads} thread(s)")
    for name, seconds, texts in (("batched", t_batch, batched), ("one-by-one", t_loop, looped)):
        print(f"{name:>11}: {seconds:7.1f} s  {len(prompts) / seconds:6.2f} prompts/s  "
              f"{tokens(texts) / seconds:7.1f} generated tokens/s")
    print(f"speed-up: {t_loop / t_batch:.1f}x (batch size {args.batch_size}); identical answers: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
