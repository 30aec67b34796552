"""The cost model: parameter counts that match real models, the FLOP rules, and a CPU utilisation fitted on
measured runs that predicts the run it was fitted on exactly."""

import pytest

from safealign import cost, models


def test_the_parameter_count_matches_a_built_model():
    model = models.load_model("tiny-random-smollm2")[0]
    assert cost.shape_of(model.config).params() == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, published", [("Qwen2-7B", 7.62e9), ("Falcon-11B", 11.1e9), ("Llama-Guard-3-8B", 8.03e9)])
def test_the_seed_shapes_give_the_published_sizes(name, published):
    assert cost.SEED_SHAPES[name].params() == pytest.approx(published, rel=0.01)


def test_flop_rules():
    shape = cost.SEED_SHAPES["Qwen2-7B"]
    n = shape.params()
    assert cost.align_flops(shape, 10, lora=False, reference="none") == 60 * n
    assert cost.align_flops(shape, 10, lora=True, reference="none") == 40 * n
    assert cost.align_flops(shape, 10, lora=True, reference="per step") == 60 * n
    assert cost.align_flops(shape, 10, lora=True, reference="reused") == 40 * n
    assert cost.generation_flops(shape, 1, 10, 0) == 20 * n
    assert cost.training_memory_gb(shape, lora=False, gpus=1) == pytest.approx(16 * n / 2**30)
    assert cost.training_memory_gb(shape, lora=False, gpus=8) == pytest.approx(2 * n / 2**30)


def test_a_fitted_utilisation_predicts_its_own_run_and_scales_with_tokens():
    shape = cost.SEED_SHAPES["Qwen2-7B"]
    runs = {"a": {"tokens_seen": 1000, "wall_s": 100.0, "lora": {"r": 16}, "reference_pass": "reused"},
            "b": {"tokens_seen": 2000, "wall_s": 150.0, "lora": {"r": 16}, "reference_pass": "reused"}}
    u = cost.calibrate(runs, shape, ["a"])
    rows = {r["method"]: r for r in cost.check(runs, shape, u)}
    assert rows["a"]["predicted / measured"] == 1.0
    assert rows["b"]["predicted_s"] == pytest.approx(200.0)


def test_the_cost_page_reads_the_committed_cpu_runs():
    from safealign import book_pages, paths

    if not (paths.results_dir("cpu") / "align" / "dpo.json").exists():
        pytest.skip("no committed cpu alignment")
    page = book_pages.cost_page("cpu")
    assert "Utilisation fitted on dpo" in page and "Qwen2-7B" in page and "Falcon-11B" in page
    assert "| dpo | " in page and "| orpo | " in page
