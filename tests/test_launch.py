"""The launcher: one process in the notebook, or many through torchrun (CPU) / accelerate (GPU)."""

from pathlib import Path

import pytest
import yaml

from safealign import paths, profiles
from safealign.align import launch

CONFIGS = sorted((paths.REPO_ROOT / "configs" / "accelerate").glob("*.yaml"))


def test_the_cpu_profile_trains_in_the_notebooks_process():
    assert launch.in_process(profiles.load("cpu"))
    assert not launch.in_process(profiles.override(profiles.load("smoke"), {"launch.num_processes": 2}))


def test_the_repository_ships_accelerate_configs():
    assert CONFIGS, "configs/accelerate/ holds no accelerate config"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_accelerate_config_parses_and_a_gpu_profile_uses_it(config):
    from accelerate.commands.config.config_args import load_config_from_file

    loaded = load_config_from_file(str(config))
    assert loaded.distributed_type is not None and loaded.mixed_precision == "bf16"
    used = {profiles.load(n).launch.accelerate_config for n in profiles.names() if n.startswith("gpu")}
    assert str(config.relative_to(paths.REPO_ROOT)) in used


def test_the_gpu_profile_names_an_existing_deepspeed_config():
    settings = profiles.load("gpu")
    config = launch.config_path(settings)
    assert yaml.safe_load(config.read_text())["distributed_type"] == "DEEPSPEED"
    cmd = launch.command(settings, "dpo", Path("s.json"), Path("o.json"), device="cuda")
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and str(config) in cmd
    assert cmd[cmd.index("--num_processes") + 1] == str(settings.launch.num_processes)


def test_cpu_processes_start_through_torchrun():
    settings = profiles.override(profiles.load("smoke"), {"launch.num_processes": 2})
    cmd = launch.command(settings, "ipo", Path("s.json"), Path("o.json"), device="cpu")
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and cmd[cmd.index("--nproc_per_node") + 1] == "2"
    assert cmd[-6:] == ["--settings", "s.json", "--method", "ipo", "--out", "o.json"]


def test_bad_launch_settings_are_named():
    with pytest.raises(ValueError, match="launch.num_processes"):
        launch.command(profiles.override(profiles.load("smoke"), {"launch.num_processes": 0}), "dpo",
                       Path("s"), Path("o"), device="cpu")
    missing = profiles.override(profiles.load("smoke"), {"launch.accelerate_config": "configs/accelerate/nope.yaml"})
    with pytest.raises(FileNotFoundError, match="launch.accelerate_config"):
        launch.config_path(missing)
    with pytest.raises(profiles.ProfileError, match="launch.num_gpus"):
        profiles.override(profiles.load("smoke"), {"launch.num_gpus": 2})


@pytest.mark.slow
def test_two_cpu_processes_train_like_one_process_with_the_same_global_batch(tmp_path, monkeypatch):
    """Data parallel over gloo: 2 processes x batch 1 see the pairs one process sees at batch 2, in the
    same order, so every logged figure agrees step by step. The 2-process run goes first, on an empty runs/:
    the launcher writes the offline model before the processes start, and they share one reference pass,
    which the 1-process run then reuses (tolerance 1e-5: the all-reduce sums in another
    order). Step 1's DPO loss is log 2 whatever the pairs (the LoRA adapter starts at zero, so policy =
    reference); the chosen / rejected log-probabilities depend on which pairs a step saw (the data order),
    and the later losses and margins on the updates before them."""
    import math

    monkeypatch.setenv("SAFEALIGN_RUNS_DIR", str(tmp_path / "runs"))
    one = profiles.override(profiles.load("smoke"), {"align.hyper.per_device_train_batch_size": 2,
                                                     "align.hyper.max_steps": 4})
    two = profiles.override(one, {"launch.num_processes": 2, "align.hyper.per_device_train_batch_size": 1})
    multi = launch.train(two, "dpo")     # first, on an empty runs/: the processes materialise nothing themselves
    single = launch.train(one, "dpo")
    assert (single.result["processes"], multi.result["processes"]) == (1, 2)
    assert (multi.result["reference_pass"], single.result["reference_pass"]) == ("computed", "reused")
    assert multi.result["steps"] == single.result["steps"] == 4
    assert multi.result["pairs_seen"] == single.result["pairs_seen"]
    assert single.history[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert any(abs(r["loss"] - math.log(2)) > 1e-4 for r in single.history[1:])  # the policy moved
    chosen = [r["logps/chosen"] for r in single.history]
    assert len(set(chosen)) == len(chosen)                                      # each step saw other pairs
    for key in ("loss", "logps/chosen", "logps/rejected", "rewards/margins"):
        assert [r[key] for r in multi.history] == pytest.approx([r[key] for r in single.history], rel=1e-5, abs=1e-5), key
    assert (multi.policy_dir / "model.safetensors").exists()
    assert str(multi.policy_dir).startswith(str(tmp_path))                       # never the book's runs/


def test_every_trainer_of_the_book_has_a_launch_target():
    from safealign.align import adaptive, mixture, run

    assert all(launch.trainer_of(m) is run.train for m in align_methods())
    assert all(launch.trainer_of(m) is adaptive.train for m in adaptive.PAPER_B_METHODS)
    assert callable(launch.trainer_of("mixing-fig2-0")) and mixture.train_named
    with pytest.raises(ValueError, match="unknown training target 'nope'.*paper A method.*paper B method.*mixing-"):
        launch.trainer_of("nope")


def align_methods():
    from safealign.align import METHODS

    return list(METHODS)


@pytest.mark.parametrize("argv, message", [
    (["--method", "dpo"], "one of the arguments --profile --settings is required"),
    (["--profile", "smoke", "--settings", "s.json", "--method", "dpo"], "not allowed with argument"),
    (["--profile", "nope", "--method", "dpo"], "unknown profile 'nope'"),
    (["--profile", "smoke", "--method", "nope"], "unknown training target 'nope'"),
    (["--settings", "missing.json", "--method", "dpo"], "missing.json"),
])
def test_the_launch_command_line_refuses_bad_arguments_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        launch.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_fsdp_profile_launches_accelerate_with_its_config():
    settings = profiles.load("gpu-fsdp")
    cmd = launch.command(settings, "adpo", Path("s.json"), Path("o.json"), device="cuda")
    assert yaml.safe_load(launch.config_path(settings).read_text())["fsdp_config"]["fsdp_version"] == 2
    assert str(launch.config_path(settings)) in cmd and cmd[cmd.index("--method") + 1] == "adpo"
    assert settings.align.dtype == "bfloat16" and profiles.load("cpu").align.dtype == "float32"


@pytest.mark.slow
def test_a_paper_b_trainer_runs_in_two_cpu_processes_like_one():
    """A mixing point (paper B's SFT, TRL SFTTrainer) through the launcher: 2 processes x 1 row give the losses
    of 1 process x 2 rows (tokens are averaged across processes), and the main process alone saves."""
    from safealign import pipeline

    pipeline.run("smoke", only=["data", "harm-types", "type-pools"])  # the type pools a mixture draws on
    one = profiles.override(profiles.load("smoke"), {"mixing.hyper.per_device_train_batch_size": 2,
                                                     "mixing.hyper.max_steps": 3})
    two = profiles.override(one, {"launch.num_processes": 2, "mixing.hyper.per_device_train_batch_size": 1})
    single = launch.train(one, "mixing-fine-s0")
    multi = launch.train(two, "mixing-fine-s0")
    assert (single.result["processes"], multi.result["processes"]) == (1, 2)
    assert multi.result["steps"] == single.result["steps"] == 3
    assert [r["loss"] for r in multi.history] == pytest.approx([r["loss"] for r in single.history], rel=1e-4)
    assert len({r["loss"] for r in single.history}) == 3                        # the policy moved
    assert (multi.policy_dir / "model.safetensors").exists() and multi.result["policy_sha256"]
