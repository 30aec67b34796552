"""The whole smoke book, executed from scratch and built offline, renders its plotly figures in Chromium."""

import json
import re
import shutil
import subprocess
import tempfile

import pytest

from safealign import book, pipeline

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def smoke_book():
    executed = pipeline.run("smoke", force=True)
    assert executed == [s.name for s in pipeline.stages("smoke")]
    return book.build("smoke", clean=True)


@pytest.mark.slow
def test_the_smoke_book_builds_without_loading_anything_from_the_internet(smoke_book):
    html_dir = book.html_dir("smoke")
    pages = list(html_dir.rglob("*.html"))
    assert len(pages) >= 3
    external = [(p.name, m) for p in pages for m in re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', p.read_text())]
    assert not external


@pytest.mark.slow
@pytest.mark.browser
def test_a_plotly_figure_renders_in_headless_chromium(smoke_book):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian chromium is missing: `make test-setup` installs it")
    page = book.html_dir("smoke") / "book" / "executed" / "smoke" / "overview.html"
    with tempfile.TemporaryDirectory() as profile_dir:
        dom = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--virtual-time-budget=20000",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=180, check=True,
        ).stdout
    # plotly.js adds the js-plotly-plot class and draws an <svg class="main-svg"> only when it has rendered
    assert "js-plotly-plot" in dom
    assert dom.count("js-plotly-plot") >= 2 and 'class="main-svg"' in dom


def test_the_scale_page_is_written_from_the_recorded_results_only(tmp_path, monkeypatch):
    from safealign import book_pages, paths

    monkeypatch.setattr(paths, "book_dir", lambda: tmp_path / "book")
    results = tmp_path / "book" / "results" / "cpu"
    (results / "align").mkdir(parents=True)
    (results / "align" / "dpo.json").write_text(json.dumps({
        "label": "Safe-DPO", "trainer": "DPOTrainer", "train_pairs_available": 219, "pairs_seen": 220, "steps": 55,
        "tokens_seen": 41505, "wall_s": 448.7, "peak_rss_gb": 3.62}))
    page = book_pages.scale_page("cpu")
    assert "| Safe-DPO | DPOTrainer | 219 | 220 | 55 | 41505 | 448.7 | 3.62 |" in page
    assert "## Evaluation" not in page            # nothing evaluated: no table, no invented numbers
    assert book_pages.write("cpu")[0].read_text() == page
