"""Throughput of each judge on this machine (responses or texts per second), on real shipped data.

    python scripts/bench_judges.py --profile cpu [--n 500] [--threads 1] [--llama-guard-tiny]

The trained judges must exist (run notebooks/03_judges.ipynb, i.e. `python -m safealign.pipeline --only judges`).
Timings on a shared machine are noisy: the best of --repeats runs is reported.
"""

from __future__ import annotations

import argparse
import os
import time


def best_rate(fn, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--n", type=int, default=500, help="responses per timing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (other jobs share this CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--llama-guard-tiny", action="store_true", help="also time the tiny random Llama Guard path")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch

    from safealign import data, judges, profiles, runtime

    torch.set_num_threads(args.threads)
    settings = profiles.load(args.profile)
    runtime.setup(settings)
    rows = data.load("pku_saferlhf_pairs").shuffle(seed=0).select(range(args.n))
    prompts, responses = list(rows["prompt"]), list(rows["unsafe_response"])

    benches = [
        (judges.load_safety_judge(settings), lambda j: j.judge(prompts, responses), "responses/s"),
        (judges.load_refusal_detector(settings), lambda j: j.classify(prompts, responses), "responses/s"),
        (judges.load_toxicity_scorer(settings), lambda j: j.score(responses), "texts/s"),
    ]
    if args.llama_guard_tiny:
        from safealign.judges import llama_guard

        benches.append((llama_guard.tiny_llama_guard(), lambda j: j.judge(prompts[:32], responses[:32]), "responses/s"))
    print(f"profile={args.profile}  n={args.n}  torch threads={args.threads}  (best of {args.repeats})")
    for judge, call, unit in benches:
        n = 32 if getattr(judge, "name", "") == "tiny-random-llama-guard" else args.n
        rate = best_rate(lambda: call(judge), n, args.repeats)
        print(f"{judge.name:45s} {rate:9.1f} {unit}")


if __name__ == "__main__":
    main()
