"""Seconds per capability task at a profile's sizes (eval.general), on the base policy: what one model's
capability evaluation costs, task by task, and the stderr each score gets (prints figures).

    python scripts/bench_capability.py [--profile cpu] [--tasks arc_easy,gsm8k]
"""

from __future__ import annotations

import argparse
import time

from safealign import models, profiles, runtime
from safealign.capability import benchmarks as capability
from safealign.generate.backend import HFBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of eval.general.tasks")
    args = parser.parse_args()
    settings = profiles.load(args.profile)
    general = settings.eval.general
    names = args.tasks.split(",") if args.tasks else list(general.tasks)
    unknown = sorted(set(names) - set(general.tasks))
    if unknown:
        raise SystemExit(f"--tasks: {unknown} not in eval.general.tasks of profile {args.profile}")
    runtime.seed_everything(settings.seed)
    model, tokenizer = models.load_model(settings.policy_model, device=runtime.device(settings))
    backend = HFBackend(lambda: (model, tokenizer), {"model": settings.policy_model}, settings=settings,
                        folder=models.resolve(settings.policy_model))
    total = 0.0
    print(f"profile {args.profile}, engine {general.engine}, {settings.policy_model}")
    for task in names:
        cfg = {**general.to_dict(), "tasks": {task: general.tasks[task].to_dict()}}
        start = time.time()
        score = capability.evaluate_all(backend, cfg, settings.seed, settings.eval.common.batch_size)[task]
        seconds = time.time() - start
        total += seconds
        metric = score["metric"]
        print(f"{task:<15} n {score['n']:>4}  {metric} {score[metric]:.3f} ± {score[metric + '_stderr']:.3f}  "
              f"{seconds:7.1f} s", flush=True)
    print(f"total {total:.0f} s for one model")


if __name__ == "__main__":
    main()
