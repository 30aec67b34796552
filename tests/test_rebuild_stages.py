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


def test_a_failed_stage_leaves_no_half_written_page_keeps_its_answers_and_the_rest_go_on(tmp_path, monkeypatch):
    import subprocess
    import sys

    script = load_script()
    repo = tmp_path / "repo"
    (repo / "book" / "results").mkdir(parents=True)
    (repo / "book" / "results" / "old.json").write_text("{}")
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t"), monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t"), monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")
    monkeypatch.setattr(script, "ROOT", repo)
    plan = {"align-dpo": False, "eval-dpo": False, "token-rewards": False}
    monkeypatch.setattr(script, "current", lambda profile: (list(plan.items()), AFTER))
    real_run = subprocess.run

    def fake_pipeline(cmd, **kwargs):
        if cmd[0] != sys.executable:
            return real_run(cmd, **kwargs)
        stage = cmd[-1]
        if stage == "align-dpo":   # writes a page and an answer, then fails
            (repo / "book" / "results" / "old.json").write_text('{"half": true}')
            (repo / "book" / "results" / "new.json").write_text("{}")
            (repo / "book" / "answers").mkdir(exist_ok=True)
            (repo / "book" / "answers" / "base.json").write_text('{"kept": 1}')
            return subprocess.CompletedProcess(cmd, 1)
        (repo / "book" / "results" / f"{stage}.json").write_text("{}")
        plan[stage] = True
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(script.subprocess, "run", fake_pipeline)
    assert script.main(["--profile", "cpu", "--logs", str(tmp_path / "logs")]) == 1        # a failure is reported
    assert (tmp_path / "logs" / "failed.txt").read_text().split() == ["align-dpo"]
    assert (repo / "book" / "results" / "old.json").read_text() == "{}"                    # restored
    assert not (repo / "book" / "results" / "new.json").exists()                           # removed
    assert (repo / "book" / "answers" / "base.json").exists()                              # kept
    log = real_run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True).stdout.splitlines()
    assert log == ["cpu rebuild: token-rewards", "cpu rebuild: answers kept from the failed stage align-dpo", "start"]
