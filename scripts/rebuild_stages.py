"""Rebuild a profile's stale stages one at a time, committing book/ after each: a long rebuild (the cpu profile's
~12 h after a change of shared code) resumes where it stopped, across sessions, machines and failures.

    python scripts/rebuild_stages.py --profile cpu [--logs DIR] [--after-commit CMD] [--dry-run]

Each round runs the first stale stage of the pipeline's plan (`python -m safealign.pipeline --only STAGE`, its
output in DIR/STAGE.log). On success book/ is committed as "<profile> rebuild: STAGE" and CMD (if given) runs
with STAGE in its environment. A stage that fails is recorded in DIR/failed.txt, its half-written pages and results
are discarded (the answers it generated are kept and committed: they are keyed by what made them), and it is
skipped together with every stage that runs after it; independent stages go on. Delete
failed.txt (or a line of it) after a fix to run those stages again. --dry-run prints the order and runs nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from safealign import pipeline

ROOT = Path(__file__).resolve().parents[1]


def blocked(name: str, after: dict[str, list[str]], failed: set[str]) -> bool:
    """Whether `name` failed or runs, directly or through other stages, after a stage that failed."""
    todo, seen = [name], set()
    while todo:
        stage = todo.pop()
        if stage in failed:
            return True
        if stage not in seen:
            seen.add(stage)
            todo.extend(after.get(stage, []))
    return False


def runnable(plan: list[tuple[str, bool]], after: dict[str, list[str]], failed: set[str]) -> list[str]:
    """The stale stages in plan order, less those blocked by a failure."""
    return [name for name, fresh in plan if not fresh and not blocked(name, after, failed)]


def current(profile: str) -> tuple[list[tuple[str, bool]], dict[str, list[str]]]:
    rows = pipeline.plan(profile)
    return [(stage.name, fresh) for stage, _, fresh in rows], {stage.name: list(stage.after) for stage, _, _ in rows}


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--logs", type=Path, default=ROOT / "runs" / "rebuild_logs")
    parser.add_argument("--after-commit", metavar="CMD", help="shell command run after each stage's commit")
    parser.add_argument("--dry-run", action="store_true", help="print the stages it would run, in order")
    args = parser.parse_args(argv)
    failed_file = args.logs / "failed.txt"
    failed = set(failed_file.read_text().split()) if failed_file.exists() else set()
    if args.dry_run:
        plan, after = current(args.profile)
        for name in runnable(plan, after, failed):
            print(name)
        return 0
    args.logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    while True:
        todo = runnable(*current(args.profile), failed)
        if not todo:
            print(f"{time.strftime('%FT%TZ', time.gmtime())} nothing left to run"
                  + (f" (failed, with what runs after them: {sorted(failed)})" if failed else ""), flush=True)
            return 1 if failed else 0
        stage, started = todo[0], time.time()
        print(f"{time.strftime('%FT%TZ', time.gmtime())} start {stage}", flush=True)
        with open(args.logs / f"{stage}.log", "w") as log:
            done = subprocess.run([sys.executable, "-m", "safealign.pipeline", "--profile", args.profile, "--only", stage],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env).returncode == 0
        if not done:
            failed.add(stage)
            with open(failed_file, "a") as f:
                f.write(stage + "\n")
            # its half-written pages and results go; answers it generated stay (keyed by what made them, valid)
            for folder in ("book/executed", "book/results"):
                git("checkout", "-q", "--", folder)
                git("clean", "-fdq", folder)
            git("add", "-A", "book/answers")
            git("commit", "-q", "-m", f"{args.profile} rebuild: answers kept from the failed stage {stage}")
            print(f"{time.strftime('%FT%TZ', time.gmtime())} FAILED {stage} (see {args.logs / (stage + '.log')}); "
                  "skipping it and the stages after it", flush=True)
            continue
        git("add", "-A", "book")
        if git("commit", "-q", "-m", f"{args.profile} rebuild: {stage}").returncode != 0:
            print(f"nothing to commit for {stage}", flush=True)
        if args.after_commit:
            subprocess.run(args.after_commit, shell=True, cwd=ROOT, env={**env, "STAGE": stage})
        print(f"{time.strftime('%FT%TZ', time.gmtime())} done {stage} in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
