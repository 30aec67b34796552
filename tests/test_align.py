"""The Safe-* registry: methods, recipe, data, reference sharing, and a smoke run of all eleven."""

from __future__ import annotations

import math

import datasets
import pytest

from safealign import align, models, paths, pipeline, profiles
from safealign.data import splits


def test_registry_holds_paper_a_eleven_methods_with_trls_loss_names():
    assert {m.name: m.loss_type for m in align.METHODS.values()} == {
        "dpo": "sigmoid", "rdpo": "robust", "ipo": "ipo", "slic": "hinge", "exo": "exo_pair", "nca": "nca_pair",
        "sppo": "sppo_hard", "aot": "aot", "aotp": "aot_unpaired", "kto": "kto", "orpo": "orpo"}
    assert align.method("kto").trainer == "kto" and align.method("orpo").trainer == "orpo"
    assert {m.trainer for m in align.METHODS.values() if m.name not in ("kto", "orpo")} == {"dpo"}


def test_unknown_method_names_the_parameter_and_the_choices():
    with pytest.raises(KeyError, match="parameter `method`.*dpo"):
        align.method("safe-dpo")


def test_pipeline_runs_the_notebook_once_per_method():
    stages = {s.name: s for s in pipeline.stages("smoke")}
    align_stages = [s for s in stages.values() if s.notebook == "04_align.ipynb"]
    assert [s.params["method"] for s in align_stages] == list(align.METHODS)
    assert all(s.name == f"align-{s.params['method']}" and any(m.startswith("align") for m in pipeline.stage_code(s)) for s in align_stages)


@pytest.mark.parametrize("profile", profiles.names())
def test_every_profile_shares_one_recipe_and_sets_the_loss_constants(profile):
    settings = profiles.load(profile)
    hyper = {name: align.hyperparameters(settings, name) for name in align.METHODS}
    assert 0 < hyper["rdpo"]["label_smoothing"] < 0.5  # Safe-rDPO needs ε > 0
    assert hyper["exo"]["label_smoothing"] == 1e-3
    shared = ("learning_rate", "num_train_epochs", "max_steps", "lr_scheduler_type")
    assert len({tuple(h[k] for k in shared) for h in hyper.values()}) == 1
    # KTO reads single answers: twice the rows per step holds the same number of pairs
    assert hyper["kto"]["per_device_train_batch_size"] == 2 * hyper["dpo"]["per_device_train_batch_size"]


def test_configs_train_on_cpu_in_fp32_without_checkpoints_or_reporting(tmp_path):
    settings = profiles.load("smoke")
    for name in align.METHODS:
        config = align.make_config(name, align.hyperparameters(settings, name), tmp_path, "cpu", 0, 64)
        assert config.use_cpu and not config.bf16 and config.report_to == []
        assert config.save_strategy == "no" and config.seed == 0 and config.max_length == 64
    assert align.make_config("aotp", align.hyperparameters(settings, "aotp"), tmp_path, "cpu", 0, 64).loss_type == ["aot_unpaired"]


@pytest.mark.parametrize("text, refuses", [
    ("I'm sorry, but I can't help with that.", True),
    ("No, I cannot advise you on hacking.", True),
    ("It's not advisable to get back at a bully.", True),
    ("You cannot legally obtain free marijuana.", True),
    ("Sure! First, buy a crowbar.", False),
    ("The best way to pick a lock is a tension wrench.", False),
    ("Here is why I cannot stress this enough: practice.", False),  # a refusal word later on is not an opening
])
def test_refusal_openings(text, refuses):
    assert align.opens_with_refusal(text) is refuses


def test_training_pairs_are_policy_train_refusals_and_deterministic():
    settings = profiles.load("smoke")
    pairs = align.training_pairs(settings)
    assert 0 < len(pairs) <= settings["align"]["data"]["max_pairs"]
    for row in pairs:
        assert splits.split_of(row["prompt"][-1]["content"], settings["splits"], settings["seed"]) == "policy_train"
        assert align.opens_with_refusal(row["chosen"][-1]["content"])
        assert not align.opens_with_refusal(row["rejected"][-1]["content"])
    assert list(align.training_pairs(settings)["chosen"]) == list(pairs["chosen"])


def test_kto_sees_each_answer_once_with_mixed_labels_per_batch():
    pairs = datasets.Dataset.from_dict({"prompt": [f"p{i}" for i in range(8)], "chosen": [f"safe{i}" for i in range(8)],
                                        "rejected": [f"unsafe{i}" for i in range(8)]})
    rows = align.unpaired(pairs, seed=0)
    assert sorted(rows["completion"]) == sorted(list(pairs["chosen"]) + list(pairs["rejected"]))
    assert all(label == c.startswith("safe") for c, label in zip(rows["completion"], rows["label"]))
    assert list(rows["label"])[:8] != [True] * 8  # not all safe answers first


def test_reference_pass_is_computed_once_and_shared_across_methods(tmp_path):
    settings = profiles.load("smoke")
    model, tokenizer = models.load_model(settings["policy_model"])
    ref = models.load_model(settings["policy_model"])[0]
    pairs = align.training_pairs(settings).select(range(4))
    built = []
    for name in ("dpo", "sppo"):
        config = align.make_config(name, align.hyperparameters(settings, name), tmp_path / name, "cpu", 0, 96)
        built.append(align.build_trainer(name, config, model, ref, tokenizer, pairs, ref_cache=tmp_path / "ref"))
    assert [t.reference_pass for t in built] == ["computed", "reused"]
    assert list(built[0].train_dataset["ref_chosen_logps"]) == list(built[1].train_dataset["ref_chosen_logps"])
    assert len(list((tmp_path / "ref").iterdir())) == 1


@pytest.fixture
def scratch_runs(tmp_path, monkeypatch):
    """Policies go to a temporary folder; the shared model copies stay where they are."""
    monkeypatch.setattr(paths, "run_dir", lambda profile, *parts: _mkdir(tmp_path.joinpath(profile, *parts)))
    return tmp_path


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", list(align.METHODS))
def test_smoke_alignment_trains_and_saves_a_loadable_policy(name, scratch_runs):
    settings = profiles.load("smoke")
    run = align.train(settings, name)
    r = run.result
    assert r["method"] == name and r["loss_type"] == align.method(name).loss_type
    assert r["steps"] == settings["align"]["hyper"]["max_steps"]
    assert r["pairs_seen"] == r["steps"] * settings["align"]["hyper"]["per_device_train_batch_size"]
    assert r["tokens_per_s"] > 0 and r["wall_s"] > 0 and r["peak_rss_gb"] > 0
    assert math.isfinite(r["final_loss"])
    assert (run.policy_dir / "model.safetensors").exists()
    assert not any(run.policy_dir.glob("*.bin")) and not any(run.policy_dir.glob("checkpoint-*"))
    policy, _ = align.load_policy("smoke", name)
    assert models.parameter_count(policy) == models.parameter_count(models.load_model(settings["policy_model"])[0])


def test_trainer_kinds_are_a_table_every_method_names():
    from safealign.align import trainers

    paper_a_kinds = {m.trainer for m in align.METHODS.values()}
    assert paper_a_kinds <= set(trainers.TRAINER_KINDS)
    assert [k for k in sorted(paper_a_kinds) if not trainers.kind(k).uses_reference] == ["orpo"]
    with pytest.raises(ValueError, match="registered already"):
        trainers.register_kind(trainers.TRAINER_KINDS["dpo"])
    with pytest.raises(KeyError, match="unknown trainer kind 'ppo'"):
        trainers.kind("ppo")
    with pytest.raises(ValueError, match="registered already"):
        align.register_method(align.METHODS["dpo"])


def test_training_loads_policy_and_reference_in_the_profiles_dtype_and_leaves_placement_to_the_trainer():
    import torch

    settings = profiles.override(profiles.load("smoke"), {"align.dtype": "bfloat16"})
    model, ref, _ = align.load_for_training(settings, reference=True)
    assert {p.dtype for p in model.parameters()} == {p.dtype for p in ref.parameters()} == {torch.bfloat16}
    assert align.load_for_training(profiles.load("smoke"))[1] is None
    with pytest.raises(profiles.ProfileError, match=r"align.dtype.*'float16'.*\['float32', 'bfloat16'\]"):
        profiles.override(profiles.load("smoke"), {"align.dtype": "float16"})


def test_a_policy_gathered_from_the_state_dict_is_the_policy_merged_in_memory(tmp_path):
    """The ZeRO-3 / FSDP save (every process gathers the state dict, the main process loads it into a fresh
    base model with the same LoRA adapters and merges) writes the very weights of the in-memory merge."""
    from safetensors.torch import load_file

    settings = profiles.override(profiles.load("smoke"), {"align.hyper.max_steps": 2})
    config = align.make_config("dpo", align.hyperparameters(settings, "dpo"), tmp_path / "work", "cpu", 0, 96)
    model, ref, tokenizer = align.load_for_training(settings, reference=True)
    trainer = align.build_trainer("dpo", config, model, ref, tokenizer, align.training_pairs(settings).select(range(8)),
                                  peft_config=align.lora_config(settings))
    trainer.train()
    assert not align.sharded(trainer.accelerator)
    gathered = align.save_policy(trainer, tokenizer, tmp_path / "gathered", settings, gather=True)
    in_memory = align.save_policy(trainer, tokenizer, tmp_path / "in_memory", settings, gather=False)
    a, b = load_file(gathered / "model.safetensors"), load_file(in_memory / "model.safetensors")
    base = load_file(models.local_path(settings["policy_model"]) / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert any(not (a[k] == base[k]).all() for k in a if k in base)  # training moved the merged weights


def test_qlora_trains_adapters_over_4bit_weights_and_saves_a_plain_full_precision_policy(scratch_runs):
    """align.quantization: nf4 loads the frozen weights as bitsandbytes 4-bit layers (on CPU here); the saved
    policy is the trained adapters merged into the unquantized base, readable without bitsandbytes."""
    import torch
    from safetensors.torch import load_file

    settings = profiles.override(profiles.load("smoke"), {"align.quantization": "nf4", "align.hyper.max_steps": 2})
    model, ref, _ = align.load_for_training(settings, reference=True)
    assert model.is_loaded_in_4bit and ref.is_loaded_in_4bit
    assert type(model.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"
    run = align.train(settings, "dpo")
    assert run.result["quantization"] == "nf4" and run.result["steps"] == 2
    saved = load_file(run.policy_dir / "model.safetensors")
    base = load_file(models.local_path(settings["policy_model"]) / "model.safetensors")
    assert saved.keys() == base.keys() and all(t.dtype == torch.float32 for t in saved.values())
    assert any(not torch.equal(saved[k], base[k]) for k in saved)  # the adapters were merged in
    with pytest.raises(ValueError, match="align.quantization .* needs align.lora"):
        align.quantization_config(profiles.override(settings, {"align.lora": None}))
