"""Benchmark the alignment registry against bare TRL (prints figures; nothing here is a test).

    python scripts/bench_align.py --profile cpu --steps 4 --pairs 16

1. Overhead: the registry's Safe-DPO trainer vs a bare `trl.DPOTrainer` built by hand with the same
   config, model, data and LoRA adapter; the training loops are timed alternately (A B A B ...). The
   registry should cost at most 5% more.
2. Reference log-probs: the same training loop with the reference model run at every step
   (precompute_ref_log_probs=False) vs precomputed once, and what the one-off reference pass costs.
   In the pipeline that pass is shared by the nine DPOTrainer methods (align.build_trainer's cache).

Timings on a shared 2-core machine are noisy: other processes only ever add time, so the overhead is
the ratio of the best (least disturbed) runs; the spread is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from safealign import align, models, profiles, runtime


def timed_train(trainer) -> float:
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=profiles.names())
    parser.add_argument("--steps", type=int, default=4, help="training steps per timed run")
    parser.add_argument("--pairs", type=int, default=16, help="training pairs (a reference pass covers all of them)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per variant in the overhead comparison")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    settings = profiles.load(args.profile)
    runtime.setup(settings)
    device = runtime.device(settings)
    pairs = align.training_pairs(settings).select(range(args.pairs))
    hyper = {**align.hyperparameters(settings, "dpo"), "max_steps": args.steps}
    work = Path(tempfile.mkdtemp(prefix="bench_align_"))
    model_name = settings["policy_model"]

    def config(**overrides):
        return align.make_config("dpo", {**hyper, **overrides}, work / "out", device, settings["seed"],
                                 settings["align"]["max_length"])

    def fresh_models():
        policy, tokenizer = models.load_model(model_name, device=device)
        return policy, models.load_model(model_name, device=device)[0], tokenizer

    def registry_trainer(ref_cache=work / "ref", **overrides):
        policy, ref, tokenizer = fresh_models()
        return align.build_trainer("dpo", config(**overrides), policy, ref, tokenizer, pairs,
                                   peft_config=align.lora_config(settings), ref_cache=ref_cache)

    def bare_trainer(**overrides):
        from trl import DPOTrainer

        policy, ref, tokenizer = fresh_models()
        return DPOTrainer(model=policy, ref_model=ref, args=config(**overrides), train_dataset=pairs,
                          processing_class=tokenizer, peft_config=align.lora_config(settings))

    print(f"profile={args.profile} model={model_name} device={device} threads={args.threads} "
          f"steps={args.steps} pairs={args.pairs} batch={hyper['per_device_train_batch_size']}")

    # 1. registry overhead (both with the reference precomputed, as the recipe does)
    registry_trainer()  # fills the shared reference cache, so every registry run below reuses it
    times = {"registry": [], "bare TRL": []}
    builders = {"registry": registry_trainer, "bare TRL": bare_trainer}
    for repeat in range(args.repeats):  # A B, then B A: neither variant always runs first
        order = ["registry", "bare TRL"] if repeat % 2 == 0 else ["bare TRL", "registry"]
        for name in order:
            times[name].append(timed_train(builders[name]()))
    for name, values in times.items():
        print(f"  {name:9} train loop: median {statistics.median(values):7.1f} s  min {min(values):7.1f} s  "
              f"runs {[round(v, 1) for v in values]}")
    overhead = min(times["registry"]) / min(times["bare TRL"]) - 1  # the least-disturbed run of each
    print(f"registry overhead (best runs): {overhead:+.1%} (target <= +5%)")

    # 2. reference log-probs: every step vs precomputed once
    start = time.perf_counter()
    trainer = registry_trainer(ref_cache=None)  # TRL's own precompute, not cached: time the reference pass
    reference_pass = time.perf_counter() - start
    precomputed = timed_train(trainer)
    per_step = timed_train(registry_trainer(ref_cache=None, precompute_ref_log_probs=False))
    print(f"reference pass over {args.pairs} pairs (with trainer setup): {reference_pass:.1f} s")
    print(f"train loop, reference every step: {per_step:.1f} s; precomputed: {precomputed:.1f} s "
          f"-> speed-up x{per_step / precomputed:.2f} per step")
    steps_per_epoch = -(-args.pairs // hyper["per_device_train_batch_size"])
    saved_per_method = (per_step - precomputed) / args.steps * steps_per_epoch
    print(f"per method and epoch over these pairs: reference forwards saved ~{saved_per_method:.0f} s; with the pass "
          f"shared by the 9 DPOTrainer methods it is paid once ({reference_pass:.0f} s) instead of 9 times")


if __name__ == "__main__":
    main()
