"""The pipeline runs stale notebooks only, resumes after a crash, and re-runs what changed."""

import json

import nbformat
import pytest

from safealign import paths, pipeline


def _notebook(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "cpu"\nfail = False')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    marker = tmp_path / "runs.log"
    body = f"if fail:\n    raise RuntimeError('boom')\nopen({str(marker)!r}, 'a').write(profile + '\\n')"
    _notebook(notebooks / "a.ipynb", body)
    _notebook(notebooks / "b.ipynb", body)
    stage_list = [pipeline.Stage("a", "a.ipynb", modules=["paths"]),
                  pipeline.Stage("b", "b.ipynb", params={"fail": False}, after=["a"])]
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(pipeline, "stages", lambda profile: stage_list)
    monkeypatch.setattr(paths, "executed_dir", lambda profile: tmp_path / "executed" / profile)
    return stage_list, marker, notebooks


@pytest.mark.slow
def test_a_second_run_executes_nothing(toy):
    _, marker, _ = toy
    assert pipeline.run("smoke") == ["a", "b"]
    assert pipeline.run("smoke") == []
    assert marker.read_text().splitlines() == ["smoke", "smoke"]


@pytest.mark.slow
def test_a_crashed_stage_leaves_no_output_and_the_rerun_resumes_there(toy):
    stage_list, marker, _ = toy
    stage_list[1].params["fail"] = True
    with pytest.raises(Exception, match="boom"):
        pipeline.run("smoke")
    out_b = paths.executed_dir("smoke") / "b.ipynb"
    assert not out_b.exists() and not (paths.executed_dir("smoke") / "b.stamp.json").exists()
    stage_list[1].params["fail"] = False
    assert pipeline.run("smoke") == ["b"]  # 'a' finished before the crash and is not redone
    assert json.loads((paths.executed_dir("smoke") / "b.stamp.json").read_text())["parameters"]["fail"] is False


@pytest.mark.slow
def test_changing_code_reruns_the_stage_and_everything_after_it(toy):
    _, _, notebooks = toy
    pipeline.run("smoke")
    nb = nbformat.read(notebooks / "a.ipynb", as_version=4)
    nb.cells[1].source += "\n# edited"
    nbformat.write(nb, notebooks / "a.ipynb")
    assert [s.name for s, _, fresh in pipeline.plan("smoke") if not fresh] == ["a", "b"]
    assert pipeline.run("smoke") == ["a", "b"]


@pytest.mark.slow
def test_force_reexecutes_fresh_stages(toy):
    pipeline.run("smoke")
    assert pipeline.run("smoke", force=["b"]) == ["b"]
    assert pipeline.run("smoke", force=True) == ["a", "b"]


def test_outputs_and_metadata_do_not_change_the_fingerprint(toy):
    stage_list, _, notebooks = toy
    before = pipeline.fingerprint(stage_list[0], "smoke", {})
    nb = nbformat.read(notebooks / "a.ipynb", as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nb.metadata["extra"] = 1
    nbformat.write(nb, notebooks / "a.ipynb")
    assert pipeline.fingerprint(stage_list[0], "smoke", {}) == before


def test_unknown_stage_names_are_rejected(toy):
    with pytest.raises(ValueError, match="unknown stage 'zzz'"):
        pipeline.run("smoke", only=["zzz"])


def test_the_real_stage_list_is_in_dependency_order_and_every_notebook_exists():
    for profile in ("smoke", "cpu", "gpu"):
        seen = set()
        for stage in pipeline.stages(profile):
            assert (pipeline.NOTEBOOKS / stage.notebook).exists(), stage.notebook
            assert set(stage.after) <= seen, stage.name
            seen.add(stage.name)
