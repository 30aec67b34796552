"""Cost of ADPO's token masks against plain DPO on the same batch (prints figures, asserts nothing).

Both trainers are built as stage align-adpo and Safe-DPO build theirs (the profile's policy model, align.lora,
Safe-DPO's recipe, precomputed reference log-probs); then one batch of their first dataloader is timed through
`compute_loss` + backward, `--repeats` times each, alternating. Printed: ms per step of each and the masks'
overhead (goal: <= 10%), and the one-off costs ADPO adds before training (token rewards per pair, the per-token
reference pass).

    python scripts/bench_mask_overhead.py --profile cpu --pairs 16 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main(argv=None) -> None:
    from trl import DPOTrainer

    from safealign import models, paths, profiles, runtime
    from safealign.align import adaptive
    from safealign.align.adaptive_dpo import adaptive_dpo_class
    from safealign.align.methods import hyperparameters
    from safealign.align.pairs import training_pairs
    from safealign.align.run import lora_config, make_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--pairs", type=int, default=16, help="training pairs given to each trainer")
    ap.add_argument("--repeats", type=int, default=5, help="timed steps per trainer")
    args = ap.parse_args(argv)
    if args.pairs < 1 or args.repeats < 1:
        raise SystemExit("--pairs and --repeats must be >= 1")

    settings = profiles.load(args.profile)
    runtime.setup(settings)
    device = runtime.device(settings)
    pairs = training_pairs(settings).select(range(args.pairs))
    reward = adaptive.token_reward(settings, device)
    hyper = hyperparameters(settings, "dpo")
    mask = settings.adaptive.mask.settings()

    def build(masked: bool):
        runtime.seed_everything(settings.seed)
        model, tokenizer = models.load_model(settings["policy_model"], device=device)
        ref = models.load_model(settings["policy_model"], device=device)[0]
        config = make_config("dpo", hyper, paths.run_dir(settings.name, "bench", "mask-overhead"), device,
                             settings.seed, settings.align.max_length)
        kwargs = dict(model=model, ref_model=ref, args=config, train_dataset=pairs, processing_class=tokenizer,
                      peft_config=lora_config(settings))
        start = time.perf_counter()
        trainer = (adaptive_dpo_class(DPOTrainer)(mask_settings=mask, token_reward=reward.per_token, **kwargs)
                   if masked else DPOTrainer(**kwargs))
        batch = next(iter(trainer.get_train_dataloader()))
        return trainer, batch, time.perf_counter() - start

    dpo, dpo_batch, dpo_setup = build(False)
    adpo, adpo_batch, adpo_setup = build(True)
    same = torch.equal(dpo_batch["input_ids"], adpo_batch["input_ids"])

    def step(trainer, batch) -> float:
        trainer.model.train()
        start = time.perf_counter()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        trainer.model.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    step(dpo, dpo_batch), step(adpo, adpo_batch)  # warm-up
    times = {"dpo": [], "adpo": []}
    for _ in range(args.repeats):
        times["dpo"].append(step(dpo, dpo_batch))
        times["adpo"].append(step(adpo, adpo_batch))
    med = {k: statistics.median(v) for k, v in times.items()}
    tokens = int(dpo_batch["attention_mask"].sum())
    print(f"profile {args.profile}, {settings['policy_model']}, batch of {dpo_batch['input_ids'].shape[0] // 2} pairs, "
          f"{tokens} tokens; the same batch for both: {same}; torch threads {torch.get_num_threads()}")
    for k, v in times.items():
        print(f"  {k:5s} compute_loss + backward: median {med[k] * 1000:.0f} ms (min {min(v) * 1000:.0f}, "
              f"max {max(v) * 1000:.0f}) over {args.repeats}")
    print(f"  mask overhead per step: {100 * (med['adpo'] / med['dpo'] - 1):+.1f}% (goal <= 10%)")
    print(f"  one-off before training, {args.pairs} pairs: DPO setup {dpo_setup:.1f} s, ADPO setup {adpo_setup:.1f} s "
          f"(token rewards + per-token reference pass: {(adpo_setup - dpo_setup) / args.pairs:.2f} s per pair more)")


if __name__ == "__main__":
    main()
