"""Throughput of each judge on this machine (responses or texts per second), on real shipped data.

    python scripts/bench_judges.py --profile cpu [--n 500] [--threads 1] [--llama-guard-tiny] [--harm-judges]

The trained judges must exist (run notebooks/03_judges.ipynb, i.e. `python -m safealign.pipeline --only judges`;
for --harm-judges, notebooks/03b_harm_judges.ipynb: `--only harm-judges`). --harm-judges times the harm judge's
three candidates and the lecture-aware refusal detector on jailjudge_mini answers (long jailbreak answers, the
slow case); the goal for the harm judge is >= 200 answers/s.
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
    parser.add_argument("--harm-judges", action="store_true", help="time the harm judge (notebook 03b) instead")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch

    from safealign import data, judges, profiles, runtime

    torch.set_num_threads(args.threads)
    settings = profiles.load(args.profile)
    runtime.setup(settings)
    if args.harm_judges:
        return bench_harm_judges(settings, args)
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


def bench_harm_judges(settings: dict, args) -> None:
    from safealign.judges import harm, lecture_refusal as refusal, label_sources as sources, harm_stage as stage

    rows = sources.benchmark_rows("jailjudge_mini")[: args.n]
    prompts, responses = [r["prompt"] for r in rows], [r["response"] for r in rows]
    chosen = stage.load_harm_judge(settings)
    folder = stage.weights_dir(settings["name"])
    ce = chosen.cross_encoder or harm.load(folder, settings["name"], stage.config(settings)["harm"]["cross_encoder"]["max_length"]).cross_encoder
    candidates = {"tfidf": harm.HarmJudge("tfidf", chosen.tfidf), "cross_encoder": harm.HarmJudge("cross_encoder", None, ce),
                  "blend": harm.HarmJudge("blend", chosen.tfidf, ce, chosen.blend)}
    detector = refusal.LectureAwareRefusalDetector.load(folder, settings["name"])
    print(f"profile={args.profile}  n={len(rows)} jailjudge_mini answers  torch threads={args.threads}  (best of {args.repeats})")
    for name, judge in candidates.items():
        mark = "  <- the book's harm judge" if name == chosen.kind else ""
        rate = best_rate(lambda: judge.judge(prompts, responses), len(rows), args.repeats)
        print(f"harm judge candidate {name:24s} {rate:9.1f} answers/s{mark}")
    rate = best_rate(lambda: detector.classify(prompts, responses), len(rows), args.repeats)
    print(f"{detector.name:45s} {rate:9.1f} answers/s")


if __name__ == "__main__":
    main()
