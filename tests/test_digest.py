"""One code digest: a stage runs the modules its notebook imports, followed through the library; a module
nothing imports changes no fingerprint, and an edited module stales exactly the stages that run it."""

import shutil
import subprocess
import sys

import pytest

from safealign import digest, paths, pipeline


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """The library's source copied aside, so a test may add or edit modules without touching the tree."""
    copy = tmp_path / "safealign"
    shutil.copytree(paths.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(paths, "PACKAGE_DIR", copy)
    return copy


def fingerprints(profile="cpu"):
    return {stage.name: fp for stage, fp, _ in pipeline.plan(profile)}


def test_adding_an_unused_module_changes_no_stage_fingerprint(package_copy):
    before = fingerprints()
    (package_copy / "align" / "not_yet_used.py").write_text('"""a new trainer kind, not imported by anything yet"""\n')
    (package_copy / "mixing.py").write_text("import numpy\n")
    assert fingerprints() == before


def test_editing_a_module_stales_exactly_the_stages_that_run_it(package_copy):
    before = fingerprints()
    with open(package_copy / "judges" / "cross_encoder.py", "a") as f:
        f.write("\n# edited\n")
    after = fingerprints()
    changed = {name for name in before if before[name] != after[name]}
    assert "harm-judges" in changed
    # paper A's align stages never read a judge (paper B's do: their token reward comes from judges.token_reward_study)
    from safealign.align import METHODS

    assert not any(name == f"align-{m}" for name in changed for m in METHODS) and "data" not in changed


def test_relative_and_function_level_imports_are_followed():
    assert "judges.offline" in digest.closure(["judges.validate"])          # from .offline import ...
    assert "align" in digest.closure(["evaluate.run"])                      # imported inside a function
    assert {"", "data", "data.loaders"} <= set(digest.closure(["data.curation"]))   # parents' __init__ run too


def test_a_notebooks_closure_holds_every_module_its_imports_load():
    """Checked against Python itself: the modules importing the align notebook's imports loads."""
    code = pipeline.notebook_code(pipeline.NOTEBOOKS / "04_align.ipynb")
    imports = digest.code_imports(code)
    statement = "; ".join(f"import safealign.{m}" if m else "import safealign" for m in sorted(imports))
    loaded = subprocess.run(
        [sys.executable, "-c", statement + "; import sys; print('\\n'.join(m for m in sys.modules if m.startswith('safealign')))"],
        capture_output=True, text=True, check=True).stdout.split()
    names = {m[len("safealign."):] if m != "safealign" else "" for m in loaded}
    assert names <= set(digest.closure(imports))


def test_an_unknown_module_is_named():
    with pytest.raises(FileNotFoundError, match="no module safealign.nope"):
        digest.closure(["nope"])
