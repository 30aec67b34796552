"""Alignment on one process or many: the stage's notebook calls `launch.train(settings, method)`.

With `launch.num_processes: 1` and no accelerate config (the cpu profile) the run trains in the
notebook's own process (`run.train`). Otherwise the notebook starts

    accelerate launch [--config_file configs/accelerate/<x>.yaml] --num_processes N \\
        -m safealign.align.launch --settings <file> --method <m> --out <file>

(on CPU processes `python -m torch.distributed.run --nproc_per_node N -m safealign.align.launch ...`),
waits for it, and reads back what the main process wrote: the cost accounting, the training log and the
policy folder. The settings travel as a file, so the processes train on exactly the notebook's settings
(an override in a test or a user's profile included). Every process runs the same seeded data order; the
main process alone saves the policy (`run.train`).
"""

from __future__ import annotations

import argparse
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


def command(settings, method: str, settings_file: Path, out: Path, device: str) -> list[str]:
    """The launcher command line of one run.

    On GPUs: `accelerate launch` with the profile's config (DeepSpeed / FSDP / DDP). On CPU processes:
    `torch.distributed.run` (torchrun, the launcher accelerate's multi-GPU path uses), because `accelerate
    launch --cpu --num_processes N` starts one process unless mpirun is installed (accelerate 1.15,
    measured); Trainer then joins the processes over gloo."""
    n = settings.launch.num_processes
    if n < 1:
        raise ValueError(f"launch.num_processes of profile {settings.name!r} is {n}; it must be at least 1")
    target = ["-m", "safealign.align.launch", "--settings", str(settings_file), "--method", method, "--out", str(out)]
    if device == "cpu":
        if settings.launch.accelerate_config is not None:
            raise ValueError(f"launch.accelerate_config of profile {settings.name!r} is for GPUs; on CPU leave it null")
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                "--nproc_per_node", str(n), *target]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n), "--num_machines", "1"]
    config = config_path(settings)
    cmd += ["--config_file", str(config)] if config is not None else (["--multi_gpu"] if n > 1 else [])
    return cmd + target


def train(settings, method: str) -> Run:
    """Align with `method` as the profile's `launch` section says; the Run of the main process."""
    from .. import runtime

    if in_process(settings):
        return train_here(settings, method)
    device = runtime.device(settings)
    with tempfile.TemporaryDirectory(prefix=f"launch-{method}-") as tmp:
        settings_file, out = Path(tmp) / "settings.json", Path(tmp) / "run.json"
        io.write_json(settings_file, settings.to_dict())
        cmd = command(settings, method, settings_file, out, device)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.PACKAGE_DIR.parent),
                                                                          os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(cmd, env=env, cwd=paths.REPO_ROOT)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"align-{method}: `{' '.join(cmd)}` failed (exit {done.returncode}); its log is above")
        record = io.read_json(out)
    return Run(result=record["result"], history=record["history"],
               policy_dir=Path(record["policy_dir"]) if record["policy_dir"] else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safealign.align.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", required=True, help="a JSON file of settings (launch.train writes it)")
    parser.add_argument("--method", required=True)
    parser.add_argument("--out", required=True, help="where the main process writes the run")
    args = parser.parse_args(argv)
    values = io.read_json(Path(args.settings))
    settings = profiles.from_dict(values, values.get("name", "<launch>"))
    run = train_here(settings, args.method)
    from accelerate import PartialState

    if PartialState().is_main_process:
        io.write_json(Path(args.out), {"result": run.result, "history": run.history,
                                       "policy_dir": str(run.policy_dir) if run.policy_dir else None})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
