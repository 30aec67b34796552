"""Promises about the project itself: pins in sync, clean source notebooks, parameters papermill can set."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    return sorted(l.strip() for l in lines if re.match(r"^[A-Za-z0-9_.-]+==", l.strip()))


def test_environment_yml_pins_exactly_what_requirements_txt_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == _pins((ROOT / "requirements.txt").read_text().splitlines())


def test_torch_is_pinned_to_the_cpu_wheel_and_jupyter_book_to_1x():
    pins = dict(p.split("==") for p in _pins((ROOT / "requirements.txt").read_text().splitlines()))
    assert pins["torch"] == "2.13.0"
    assert pins["jupyter-book"].startswith("1.")


def test_source_notebooks_are_clean_and_take_a_profile_parameter():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") for c in code), f"{path.name} carries outputs"
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
        assert re.search(r"^profile\s*=", "".join(tagged[0]["source"]), re.M), path.name


def test_the_generated_toc_lists_every_executed_stage_and_nothing_else(tmp_path, monkeypatch):
    from safealign import book, paths, pipeline

    monkeypatch.setattr(paths, "executed_dir", lambda profile: tmp_path / profile)
    (tmp_path / "smoke").mkdir()
    for name in ("overview", "align-ipo", "eval-base", "eval-ipo"):
        (tmp_path / "smoke" / f"{name}.ipynb").write_text("{}")
    toc = yaml.safe_load(book.toc_text("smoke"))
    files = [toc["root"]]
    for part in toc["parts"]:
        for chapter in part["chapters"]:
            files += [chapter["file"]] + [s["file"] for s in chapter.get("sections", [])]
    executed = [f.rsplit("/", 1)[1] for f in files if f.startswith("book/executed/")]
    assert executed == ["overview", "align-ipo", "eval-base", "eval-ipo"]
    written = [f for f in files if f.startswith("book/generated/")]   # written at build time (book_pages)
    assert written == ["book/generated/smoke/scale", "book/generated/smoke/cost"]
    assert all((ROOT / (f + ".md")).exists() for f in files if not f.startswith(("book/executed/", "book/generated/")))
    assert {s.name for s in pipeline.stages("smoke")} >= set(executed)
