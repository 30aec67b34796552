"""Every trainer of the book on one process or many: a stage's notebook calls `launch.train(settings, target)`.

Targets: paper A's methods (`dpo`, `kto`, ... : align.run), paper B's adaptive methods (`adpo`, `grpo`, `appo`,
`rs`, `ars`: align.adaptive) and the mixing points (`mixing-<point>`: align.mixture). With
`launch.num_processes: 1` and no accelerate config (the cpu profile) the run trains in the notebook's own
process. Otherwise the notebook starts

    accelerate launch [--config_file configs/accelerate/<x>.yaml] --num_processes N \\
        -m safealign.align.launch --settings <file> --method <target> --out <file>

(on CPU processes `python -m torch.distributed.run --nproc_per_node N -m safealign.align.launch ...`),
waits for it, and reads back what the main process wrote: the cost accounting, the training log and the
policy folder. The settings travel as a file, so the processes train on exactly the notebook's settings
(an override in a test or a user's profile included). Every process runs the same seeded data order; the
main process alone saves the policy (`run.save_policy`, which gathers sharded weights first).

From a shell, on a profile by name (the result is printed, or written to --out):

    accelerate launch --config_file configs/accelerate/zero3.yaml -m safealign.align.launch --profile gpu --method dpo
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import io, paths, profiles
from ..profiles import Section, section
from .run import Run
from .run import train as train_here


@section
class LaunchSettings(Section):
    """profiles.yaml section `launch` (a wing section: the align-<m> stages read it)."""
    num_processes: int             # processes of one run (data parallel); 1 = in the notebook's process
    accelerate_config: str | None  # an accelerate config (path relative to the repository), or None


def config_path(settings) -> Path | None:
    name = settings.launch.accelerate_config
    if name is None:
        return None
    path = Path(name) if Path(name).is_absolute() else paths.REPO_ROOT / name
    if not path.is_file():
        raise FileNotFoundError(f"launch.accelerate_config of profile {settings.name!r} names {path}, which does not exist")
    return path


def in_process(settings) -> bool:
    return settings.launch.num_processes == 1 and settings.launch.accelerate_config is None


def command(settings, target: str, settings_file: Path, out: Path, device: str) -> list[str]:
    """The launcher command line of one run.

    On GPUs: `accelerate launch` with the profile's config (DeepSpeed / FSDP / DDP). On CPU processes:
    `torch.distributed.run` (torchrun, the launcher accelerate's multi-GPU path uses), because `accelerate
    launch --cpu --num_processes N` starts one process unless mpirun is installed (accelerate 1.15,
    measured); Trainer then joins the processes over gloo."""
    n = settings.launch.num_processes
    if n < 1:
        raise ValueError(f"launch.num_processes of profile {settings.name!r} is {n}; it must be at least 1")
    target = ["-m", "safealign.align.launch", "--settings", str(settings_file), "--method", target, "--out", str(out)]
    if device == "cpu":
        if settings.launch.accelerate_config is not None:
            raise ValueError(f"launch.accelerate_config of profile {settings.name!r} is for GPUs; on CPU leave it null")
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc_per_node", str(n), *target]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n), "--num_machines", "1"]
    config = config_path(settings)
    cmd += ["--config_file", str(config)] if config is not None else (["--multi_gpu"] if n > 1 else [])
    return cmd + target


# paper B's trainers by module name, imported only when a target needs them: a paper A stage (whose notebook
# imports this module) neither runs nor depends on them, so their code stays out of its fingerprint
PAPER_B_TRAINERS = {"adaptive": "safealign.align.adaptive", "mixing": "safealign.align.mixture"}


def trainer_of(target: str):
    """The training function (settings, target) -> Run of a paper A method, a paper B method or a mixing point."""
    from .methods import METHODS

    if target in METHODS:
        return train_here
    if target.startswith("mixing-"):
        mixture = importlib.import_module(PAPER_B_TRAINERS["mixing"])
        return lambda settings, name: mixture.train_named(settings, name.removeprefix("mixing-"))
    adaptive = importlib.import_module(PAPER_B_TRAINERS["adaptive"])
    if target in adaptive.PAPER_B_METHODS:
        return adaptive.train
    raise ValueError(f"unknown training target {target!r} (--method): a paper A method {sorted(METHODS)}, "
                     f"a paper B method {sorted(adaptive.PAPER_B_METHODS)} or mixing-<point>")


def train(settings, target: str) -> Run:
    """Train `target` as the profile's `launch` section says; the Run of the main process."""
    from .. import models, runtime

    trainer = trainer_of(target)
    if in_process(settings):
        return trainer(settings, target)
    device = runtime.device(settings)
    models.resolve(settings["policy_model"])  # an offline model is written on first use: here, not by N processes at once
    with tempfile.TemporaryDirectory(prefix=f"launch-{target}-") as tmp:
        settings_file, out = Path(tmp) / "settings.json", Path(tmp) / "run.json"
        io.write_json(settings_file, settings.to_dict())
        cmd = command(settings, target, settings_file, out, device)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.PACKAGE_DIR.parent),
                                                                          os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(cmd, env=env, cwd=paths.REPO_ROOT)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"{target}: `{' '.join(cmd)}` failed (exit {done.returncode}); its log is above")
        record = io.read_json(out)
    return Run(result=record["result"], history=record["history"],
               policy_dir=Path(record["policy_dir"]) if record["policy_dir"] else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safealign.align.launch", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--profile", help="a profile of profiles.yaml (or of $SAFEALIGN_PROFILES)")
    where.add_argument("--settings", help="a JSON file of settings (launch.train writes it)")
    parser.add_argument("--method", required=True, help="a paper A or paper B method, or mixing-<point>")
    parser.add_argument("--out", help="where the main process writes the run (default: print its result)")
    args = parser.parse_args(argv)
    try:
        if args.profile is not None:
            settings = profiles.load(args.profile)
        else:
            values = io.read_json(Path(args.settings))
            settings = profiles.from_dict(values, values.get("name", "<launch>"))
        trainer = trainer_of(args.method)
    except (profiles.ProfileError, ValueError, KeyError, FileNotFoundError) as err:
        parser.error(str(err))
    from .. import runtime

    runtime.setup(settings)
    run = trainer(settings, args.method)
    from accelerate import PartialState

    if PartialState().is_main_process:
        record = {"result": run.result, "history": run.history,
                  "policy_dir": str(run.policy_dir) if run.policy_dir else None}
        if args.out:
            io.write_json(Path(args.out), record)
        else:
            print(json.dumps(run.result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
