"""Run the book's notebooks for a profile with papermill, in dependency order, resumably.

    python -m safealign.pipeline --profile cpu            # run what is stale, then stop
    python -m safealign.pipeline --profile cpu --force    # re-execute everything
    python -m safealign.pipeline --profile cpu --force align-ipo --only align-ipo
    python -m safealign.pipeline --profile smoke --list   # show stages and whether they are fresh

A stage is fresh when its stamp (book/executed/<profile>/<stage>.stamp.json) records the same
fingerprint as now: the notebook's code cells, its parameters, the profile's settings, the source of
the library modules it runs (what its notebook imports, followed through the library: `digest`) and the
fingerprints of the stages it depends on. Fresh stages are
skipped, so a killed run resumes where it stopped, and a fresh clone with committed executed
notebooks and stamps rebuilds the book without retraining anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import digest, io, paths, profiles, runtime

NOTEBOOKS = paths.REPO_ROOT / "notebooks"


@dataclass
class Stage:
    name: str
    notebook: str  # file name in notebooks/
    params: dict = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # stages that must run first
    sections: list[str] = field(default_factory=list)  # profile sections it reads (top-level scalars always count)
    artifacts: list[str] = field(default_factory=list)  # folders under runs/<profile>/ that later stages read
    # what else decides its results, fingerprinted in place of a whole section (a mixing point: its own mixture
    # and the recipe, so adding a point to the grid keeps the others fresh)
    extra: dict = field(default_factory=dict)
    # upstream stages whose artifacts it needs only on demand: the notebook raises PolicyMissing naming one
    # (an evaluation whose answers are all kept never needs the aligned weights)
    on_demand: list[str] = field(default_factory=list)
    title: str | None = None  # the page's heading in the book, when one notebook serves several stages


def stages(profile: str) -> list[Stage]:
    """The book's stages for `profile`, in dependency order (each method aligned, then evaluated)."""
    from .align import METHODS
    from .align.adaptive import PAPER_B_METHODS

    settings = profiles.load(profile)  # validates the name
    out = [
        Stage("overview", "01_overview.ipynb", sections=["overview"]),
        Stage("data", "02_data.ipynb", sections=["data", "splits"]),
        Stage("harm-types", "02b_harm_types.ipynb", after=["data"], sections=["harm_types", "data", "splits"],
              artifacts=["data/harm_types"]),
        Stage("type-pools", "02c_type_pools.ipynb", after=["data", "harm-types"],
              sections=["type_pools", "data", "splits", "judging"], artifacts=["data/type_pools"]),
        Stage("judges", "03_judges.ipynb", after=["data"], sections=["judges", "data", "splits"], artifacts=["judges"]),
        Stage("harm-judges", "03b_harm_judges.ipynb", after=["data"],
              sections=["judging", "judges", "data", "splits", "eval"], artifacts=["judging"]),
        Stage("eval-base", "05_evaluate.ipynb", params={"model": "base"}, after=["judges", "harm-judges"],
              sections=["eval", "judges", "judging"],
              title="Evaluating the base model (Instruct)"),
    ]
    for m in METHODS:
        out += [
            Stage(f"align-{m}", "04_align.ipynb", params={"method": m}, after=["data"],
                  sections=["align", "launch", "data", "splits"], artifacts=[f"align/{m}"],
                  title=f"Aligning with {METHODS[m].label}"),
            Stage(f"eval-{m}", "05_evaluate.ipynb", params={"model": m}, after=["judges", "harm-judges", f"align-{m}"],
                  sections=["eval", "judges", "judging"], on_demand=[f"align-{m}"], title=f"Evaluating {METHODS[m].label}"),
        ]
    filtered = [m for m in settings.filtering.models if m != "base"]
    out.append(Stage("filtering", "08_filtering.ipynb", after=["harm-types", "type-pools", "judges", "harm-judges"]
                     + [f"align-{m}" for m in filtered], sections=["filtering", "eval", "judges", "judging", "data"],
                     on_demand=[f"align-{m}" for m in filtered]))
    # token-rewards trains the implicit reward's policy itself (align's recipe on judge_train pairs)
    out.append(Stage("token-rewards", "09_token_rewards.ipynb", after=["data"],
                     sections=["token_rewards", "align", "adaptive", "eval", "data", "splits"]))
    for m, spec in PAPER_B_METHODS.items():
        # the token reward is the token-rewards stage's choice (and, when implicit, its policy)
        out.append(Stage(f"align-{m}", "12_adaptive_align.ipynb", params={"method": m},
                         after=["data", "token-rewards"],
                         sections=["adaptive", "align", "token_rewards", "data", "splits"], artifacts=[f"align/{m}"],
                         on_demand=["token-rewards"], title=f"Aligning with {spec.label}"))
    labels = {**{m: spec.label for m, spec in METHODS.items()}, **{m: spec.label for m, spec in PAPER_B_METHODS.items()}}
    for m in settings.paper_b_eval.models:
        aligned = [] if m == "base" else [f"align-{m}"]
        out.append(Stage(f"paper-b-eval-{m}", "10_paper_b_eval.ipynb", params={"model": m},
                         after=["type-pools", "judges", "harm-judges"] + aligned,
                         sections=["paper_b_eval", "eval", "judges", "judging"], on_demand=aligned,
                         title=f"Paper B's evaluation: {'the base model' if m == 'base' else labels[m]}"))
    out.append(Stage("paper-b-table", "11_paper_b_table.ipynb",
                     after=[f"paper-b-eval-{m}" for m in settings.paper_b_eval.models], sections=["paper_b_eval", "eval"]))
    out += mixing_stages(settings)
    out.append(Stage("results", "06_results.ipynb", after=["eval-base"] + [f"eval-{m}" for m in METHODS],
                     sections=["eval"]))
    out.append(Stage("answers", "07_answers.ipynb", after=["eval-base"] + [f"eval-{m}" for m in METHODS],
                     sections=["eval"]))
    return out


def mixing_stages(settings) -> list[Stage]:
    """One stage per point of paper B's data study that the profile's `mixing.stages` names (None = every point)."""
    from .data import mixing

    cfg = settings.mixing
    points = {p.name: p for p in mixing.sweep(cfg.grid.to_dict())}
    chosen = list(points) if cfg.stages is None else list(cfg.stages)
    unknown = [n for n in chosen if n not in points]
    if unknown:
        raise ValueError(f"profile {settings.name!r}: mixing.stages names {unknown}, not points of its grid "
                         f"({sorted(points)})")
    recipe = {"max_length": cfg.max_length, "hyper": cfg.hyper.to_dict()}
    out = [Stage(f"mixing-{n}", "13_mixing_point.ipynb", params={"point": n},
                  after=["data", "type-pools", "judges", "harm-judges"],
                  sections=["paper_b_eval", "eval", "judges", "judging", "data", "align"], artifacts=[f"mixing/{n}"],
                  extra={"mixture": points[n].counts(), "figure": points[n].figure, "seed": points[n].seed, **recipe},
                  title=f"Paper B's data study: point {n}")
           for n in chosen]
    if chosen:  # the figures and claims over every point run
        out.append(Stage("mixing-study", "14_mixing_study.ipynb", after=[s.name for s in out],
                         sections=["mixing", "paper_b_eval", "eval"]))
    return out


# ---------------------------------------------------------------------------------------------


def notebook_code(path: Path) -> str:
    """The code cells of a notebook, without outputs or metadata: what decides its results."""
    with open(path) as f:
        nb = json.load(f)
    return "\n# ---\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def fingerprint(stage: Stage, profile: str, upstream: dict[str, str]) -> str:
    digest = hashlib.sha256()
    parts = {
        "notebook": notebook_code(NOTEBOOKS / stage.notebook),
        "params": parameters(stage, profile),
        "settings": relevant_settings(stage, profile),
        "modules": stage_code(stage),
        "upstream": {name: upstream[name] for name in sorted(stage.after)},
    }
    if stage.extra:  # only where set, so that every other stage keeps its fingerprint
        parts["extra"] = stage.extra
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def stage_code(stage: Stage) -> dict[str, str]:
    """sha256 of every library module the stage's notebook runs, by name."""
    code = notebook_code(NOTEBOOKS / stage.notebook)
    return digest.source_digests(digest.closure(digest.code_imports(code)))


def relevant_settings(stage: Stage, profile: str) -> dict:
    """Top-level scalars plus the sections the stage reads: editing another stage's sizes keeps it fresh."""
    settings = profiles.merged(profile)
    return {k: v for k, v in settings.items() if not isinstance(v, dict) or k in stage.sections}


def parameters(stage: Stage, profile: str) -> dict:
    return {"profile": profile, **stage.params}


def output_path(stage: Stage, profile: str) -> Path:
    return paths.executed_dir(profile) / f"{stage.name}.ipynb"


def stamp_path(stage: Stage, profile: str) -> Path:
    return paths.executed_dir(profile) / f"{stage.name}.stamp.json"


def is_fresh(stage: Stage, profile: str, fp: str) -> bool:
    stamp = stamp_path(stage, profile)
    if not (stamp.exists() and output_path(stage, profile).exists()):
        return False
    try:
        return io.read_json(stamp).get("fingerprint") == fp
    except json.JSONDecodeError:
        return False


def plan(profile: str) -> list[tuple[Stage, str, bool]]:
    """(stage, fingerprint, fresh) for each stage, in order."""
    known: dict[str, str] = {}
    fresh_by_name: dict[str, bool] = {}
    rows = []
    for stage in stages(profile):
        missing = [a for a in stage.after if a not in known]
        if missing:
            raise ValueError(f"stage {stage.name!r} runs after unknown or later stages {missing}")
        fp = fingerprint(stage, profile, known)
        known[stage.name] = fp
        # a stage is only as fresh as what it was computed from
        fresh = is_fresh(stage, profile, fp) and all(fresh_by_name[a] for a in stage.after)
        fresh_by_name[stage.name] = fresh
        rows.append((stage, fp, fresh))
    return rows


def execute(stage: Stage, profile: str, fp: str, log_output: bool = False) -> float:
    """Run one notebook; the executed copy and its stamp appear only if it succeeds."""
    import papermill

    settings = profiles.load(profile)
    out = output_path(stage, profile)
    env_backup = dict(os.environ)
    os.environ.update(runtime.environment(settings))
    # the kernel must be this interpreter (the one with safealign installed), whatever PATH says
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    start = time.time()
    try:
        with io.atomic_path(out) as tmp:
            papermill.execute_notebook(
                str(NOTEBOOKS / stage.notebook), str(tmp), parameters=parameters(stage, profile),
                kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=True, log_output=log_output,
                language="python",
            )
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    seconds = time.time() - start
    dress_for_the_book(out, stage)
    io.write_json(stamp_path(stage, profile), {
        "stage": stage.name, "notebook": stage.notebook, "parameters": parameters(stage, profile),
        "fingerprint": fp, "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return seconds


def dress_for_the_book(path: Path, stage: Stage) -> None:
    """The executed copy as the book shows it: the page titled with its stage's method or model, and the
    parameter cells (the notebook's defaults and papermill's injected values) hidden. Code cells are
    untouched, so the fingerprint (which reads the source notebook) is unaffected."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and {"parameters", "injected-parameters"} & set(tags) and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if stage.title and first is not None and first.source.startswith("# "):
        heading, _, rest = first.source.partition("\n")
        first.source = f"# {stage.title}\n\n*{heading[2:].strip()}* (stage `{stage.name}`)\n" + rest
    with io.atomic_path(path) as tmp:
        nbformat.write(nb, tmp)


def run(profile: str, force: bool | list[str] = False, only: list[str] | None = None, log_output: bool = False) -> list[str]:
    """Execute stale stages (all of them with force=True); return the names executed."""
    from tqdm.auto import tqdm

    rows = plan(profile)
    names = {s.name for s, _, _ in rows}
    for wanted in (only or []) + (force if isinstance(force, list) else []):
        if wanted not in names:
            raise ValueError(f"unknown stage {wanted!r} for profile {profile!r}; stages: {sorted(names)}")
    wanted = {
        s.name for s, fp, fresh in rows
        if (not only or s.name in only) and (not fresh or force is True or (isinstance(force, list) and s.name in force))
    }
    wanted |= _rebuild_missing_artifacts(rows, wanted, profile)
    todo = [(s, fp) for s, fp, _ in rows if s.name in wanted]
    done = []
    bar = tqdm(todo, desc=f"pipeline [{profile}]", unit="notebook")
    for stage, _ in bar:
        bar.set_postfix_str(stage.name)
        try:
            _execute_now(stage, profile, log_output)
        except Exception as err:
            needed = _stage_on_demand(err, stage)
            if needed is None:
                raise
            # e.g. an evaluation whose kept answers miss, on a clone without the aligned weights
            bar.write(f"{stage.name} needs {needed}'s artifacts, which are not on disk: running {needed} first")
            _execute_now(next(s for s, _, _ in rows if s.name == needed), profile, log_output)
            done.append(needed)
            _execute_now(stage, profile, log_output)
        done.append(stage.name)
    return done


def _execute_now(stage: Stage, profile: str, log_output: bool) -> float:
    # fingerprint what is on disk now: sources may have been edited since the run started
    fp = next(f for s, f, _ in plan(profile) if s.name == stage.name)
    return execute(stage, profile, fp, log_output=log_output)


def _stage_on_demand(err: Exception, stage: Stage) -> str | None:
    """The on-demand upstream stage a failed notebook asked for (its PolicyMissing names it), else None."""
    if getattr(err, "ename", None) != "PolicyMissing":
        return None
    match = re.search(r"\[needs stage ([\w-]+)\]", str(getattr(err, "evalue", "")))
    return match.group(1) if match and match.group(1) in stage.on_demand else None


def _rebuild_missing_artifacts(rows, wanted: set[str], profile: str) -> set[str]:
    """Upstream stages whose artifacts (models, datasets under runs/) are gone must run again.

    Committed stamps say a stage is fresh, but runs/ is not committed: on a fresh clone an evaluation
    that needs an aligned model has to retrain it first (same code and seed, same result).
    """
    by_name = {s.name: s for s, _, _ in rows}
    extra: set[str] = set()
    pending = list(wanted)
    while pending:
        downstream = by_name[pending.pop()]
        for upstream in downstream.after:
            if upstream in downstream.on_demand:
                continue
            stage = by_name[upstream]
            missing = [a for a in stage.artifacts if not (paths.runs_dir() / profile / a).exists()]
            if missing and upstream not in wanted | extra:
                extra.add(upstream)
                pending.append(upstream)
    return extra


MIN_PYTHON = (3, 11)


def check_python(version: tuple[int, ...] = tuple(sys.version_info)) -> None:
    if tuple(version[:2]) < MIN_PYTHON:
        raise SystemExit(
            f"safealign needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is "
            f"{'.'.join(map(str, version[:3]))} ({sys.executable}). Set PYTHON=python3.11 for make, "
            f"or recreate .venv with a newer interpreter."
        )


def check_data_folder(data_dir: Path | None = None) -> int:
    """Fail before anything runs when the shipped data folder is missing, incomplete or altered.

    Every file MANIFEST.json lists must exist with its sha256 (64 MB, under a second): a wrong folder is
    otherwise unnoticed while every stage is fresh, and a stale stage would find out hours in.
    Returns the number of files checked.
    """
    from . import data

    data_dir = Path(data_dir or paths.data_dir())
    hint = "set SAFEALIGN_DATA_DIR to the shipped data folder (default ../shared/data next to the checkout)"
    if not data_dir.is_dir():
        raise data.DataError(f"data folder {data_dir} does not exist; {hint}")
    manifest = data_dir / data.MANIFEST_NAME
    if not manifest.exists():
        raise data.DataError(f"{manifest} not found: {data_dir} is not the shipped data folder; {hint}")
    try:
        entries = io.read_json(manifest)
    except json.JSONDecodeError as err:
        raise data.DataError(f"{manifest}: not valid JSON ({err})") from None
    problems = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"file", "sha256"} <= set(entry):
            raise data.DataError(f"{manifest}: entry {i} lacks 'file' or 'sha256'")
        path = data_dir / entry["file"]
        if not path.exists():
            problems.append(f"{path}: missing")
        elif io.sha256_file(path) != entry["sha256"]:
            problems.append(f"{path}: sha256 does not match {manifest.name}")
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise data.DataError(f"data folder {data_dir} does not match its manifest ({len(problems)} files):\n  {shown}")
    return len(entries)


def main(argv: list[str] | None = None) -> int:
    check_python()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=profiles.DEFAULT_PROFILE, choices=profiles.names())
    parser.add_argument("--force", nargs="*", metavar="STAGE",
                        help="re-execute these stages (all stages if none named) even if fresh")
    parser.add_argument("--only", nargs="*", metavar="STAGE", help="run only these stages")
    parser.add_argument("--list", action="store_true", help="show the stages and whether each is fresh")
    parser.add_argument("--log-output", action="store_true", help="stream notebook output to the terminal")
    parser.add_argument("--skip-data-check", action="store_true",
                        help="do not verify the data folder against MANIFEST.json first")
    args = parser.parse_args(argv)

    names = [s.name for s in stages(args.profile)]
    unknown = [n for n in (args.only or []) + (args.force or []) if n not in names]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(map(repr, unknown))} for profile {args.profile!r}; "
                     f"`--list` shows the {len(names)} stages")
    if not args.skip_data_check:
        from .data import DataError
        try:
            check_data_folder()
        except DataError as err:
            print(f"safealign.pipeline: {err}", file=sys.stderr)
            return 2

    if args.list:
        for stage, fp, fresh in plan(args.profile):
            print(f"{'fresh' if fresh else 'STALE':6} {stage.name:28} {stage.notebook} {fp[:12]}")
        return 0
    force: bool | list[str] = False
    if args.force is not None:
        force = args.force or True
    done = run(args.profile, force=force, only=args.only, log_output=args.log_output)
    print(f"executed {len(done)} notebook(s): {', '.join(done) or 'none (all fresh)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
