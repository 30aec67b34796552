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
    stage_list = [pipeline.Stage("a", "a.ipynb"),
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


def test_an_unknown_stage_on_the_command_line_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        pipeline.main(["--profile", "smoke", "--only", "zzz", "--skip-data-check"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown stage(s) 'zzz'" in err and "Traceback" not in err


def test_a_wrong_data_folder_is_reported_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAFEALIGN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: pytest.fail("ran with a wrong data folder"))
    assert pipeline.main(["--profile", "smoke"]) == 2
    assert f"{tmp_path / 'MANIFEST.json'} not found" in capsys.readouterr().err


def test_a_missing_or_altered_data_file_is_named(tmp_path):
    from safealign import data, io

    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "b.txt").write_text("changed")
    io.write_json(tmp_path / "MANIFEST.json", [
        {"file": "a.txt", "sha256": io.sha256_file(tmp_path / "a.txt")},
        {"file": "b.txt", "sha256": "0" * 64},
        {"file": "c.txt", "sha256": "0" * 64},
    ])
    with pytest.raises(data.DataError) as err:
        pipeline.check_data_folder(tmp_path)
    assert "(2 files)" in str(err.value)
    assert f"{tmp_path / 'b.txt'}: sha256 does not match" in str(err.value)
    assert f"{tmp_path / 'c.txt'}: missing" in str(err.value)
    (tmp_path / "b.txt").unlink()
    io.write_json(tmp_path / "MANIFEST.json", [{"file": "a.txt", "sha256": io.sha256_file(tmp_path / "a.txt")}])
    assert pipeline.check_data_folder(tmp_path) == 1


def test_the_shipped_data_folder_matches_its_manifest():
    assert pipeline.check_data_folder() > 100


def test_python_older_than_3_11_is_refused_by_name():
    with pytest.raises(SystemExit, match="needs Python 3.11 or newer; this is 3.10.12"):
        pipeline.check_python((3, 10, 12))
    pipeline.check_python((3, 11, 0))


def test_the_books_copy_is_titled_with_its_stage_and_hides_the_parameter_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('method = "dpo"')
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('method = "ipo"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Safety alignment: one method\n\nText."), params, injected,
                nbformat.v4.new_code_cell("print(method)")]
    path = tmp_path / "align-ipo.ipynb"
    nbformat.write(nb, path)
    pipeline.dress_for_the_book(path, pipeline.Stage("align-ipo", "04_align.ipynb", title="Aligning with Safe-IPO"))
    out = nbformat.read(path, as_version=4)
    assert out.cells[0].source.startswith("# Aligning with Safe-IPO\n") and "Text." in out.cells[0].source
    assert ["remove-cell" in c.metadata.get("tags", []) for c in out.cells[1:]] == [True, True, False]
    assert [c.source for c in out.cells[1:]] == [c.source for c in nb.cells[1:]]


def test_every_evaluation_and_alignment_page_has_a_title_of_its_own():
    titles = [s.title for s in pipeline.stages("cpu") if s.notebook in ("04_align.ipynb", "05_evaluate.ipynb")]
    assert None not in titles and len(set(titles)) == len(titles) == 23


@pytest.mark.slow
def test_an_evaluation_missing_its_weights_runs_its_alignment_first_and_only_then(tmp_path, monkeypatch):
    """eval needs align's artifact only on demand: with it on disk, a stale eval runs alone; without it the
    notebook raises PolicyMissing naming the stage, the pipeline runs that stage, then the eval again."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    weights, log = tmp_path / "weights", tmp_path / "runs.log"
    _notebook(notebooks / "align.ipynb", f"open({str(weights)!r}, 'w').write('w')\nopen({str(log)!r}, 'a').write('align\\n')")
    _notebook(notebooks / "eval.ipynb", "import os\nfrom safealign.evaluate import PolicyMissing\n"
              f"if not os.path.exists({str(weights)!r}):\n    raise PolicyMissing('align', 'no weights')\n"
              f"open({str(log)!r}, 'a').write('eval\\n')")
    stage_list = [pipeline.Stage("align", "align.ipynb", artifacts=["w"]),
                  pipeline.Stage("eval", "eval.ipynb", after=["align"], on_demand=["align"])]
    monkeypatch.setattr(pipeline, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(pipeline, "stages", lambda profile: stage_list)
    monkeypatch.setattr(paths, "executed_dir", lambda profile: tmp_path / "executed" / profile)
    monkeypatch.setenv("SAFEALIGN_RUNS_DIR", str(tmp_path / "runs"))
    assert pipeline.run("smoke") == ["align", "eval"]
    weights.unlink()                                   # a fresh clone: stamps committed, weights gone
    assert pipeline.run("smoke", force=["eval"]) == ["align", "eval"]
    assert pipeline.run("smoke", force=["eval"]) == ["eval"]   # weights on disk again: the eval alone
    assert log.read_text().split() == ["align", "eval", "align", "eval", "eval"]


def test_on_a_fresh_clone_the_filtering_stage_first_rebuilds_every_upstream_output_it_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEALIGN_RUNS_DIR", str(tmp_path / "runs"))   # runs/ is not committed: empty
    rows = [(stage, None, True) for stage in pipeline.stages("cpu")]
    # the harm-type labels and pools, the first judges and the harm judge; the aligned policy only on demand
    assert pipeline._rebuild_missing_artifacts(rows, {"filtering"}, "cpu") == {"harm-types", "type-pools", "judges",
                                                                              "harm-judges"}
