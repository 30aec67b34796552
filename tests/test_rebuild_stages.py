"""scripts/rebuild_stages.py picks the next stale stage, skipping a failed stage and everything after it."""

import importlib.util
from pathlib import Path


def load_script():
    spec = importlib.util.spec_from_file_location("rebuild_stages",
                                                  Path(__file__).parents[1] / "scripts" / "rebuild_stages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AFTER = {"data": [], "judges": ["data"], "align-dpo": ["data"], "eval-dpo": ["judges", "align-dpo"],
         "filtering": ["judges", "align-dpo"], "results": ["eval-dpo"], "token-rewards": ["data"]}
PLAN = [("data", True), ("judges", True), ("align-dpo", False), ("eval-dpo", False), ("filtering", False),
        ("token-rewards", False), ("results", False)]


def test_stale_stages_run_in_plan_order():
    script = load_script()
    assert script.runnable(PLAN, AFTER, set()) == ["align-dpo", "eval-dpo", "filtering", "token-rewards", "results"]


def test_a_failed_stage_blocks_what_runs_after_it_directly_or_not():
    script = load_script()
    assert script.runnable(PLAN, AFTER, {"align-dpo"}) == ["token-rewards"]
    assert script.runnable(PLAN, AFTER, {"eval-dpo"}) == ["align-dpo", "filtering", "token-rewards"]
    assert script.blocked("results", AFTER, {"align-dpo"}) and not script.blocked("judges", AFTER, {"align-dpo"})


def test_dry_run_prints_the_order_less_the_recorded_failures(tmp_path, capsys, monkeypatch):
    script = load_script()
    monkeypatch.setattr(script, "current", lambda profile: (PLAN, AFTER))
    (tmp_path / "failed.txt").write_text("filtering\n")
    assert script.main(["--profile", "smoke", "--logs", str(tmp_path), "--dry-run"]) == 0
    assert capsys.readouterr().out.split() == ["align-dpo", "eval-dpo", "token-rewards", "results"]
