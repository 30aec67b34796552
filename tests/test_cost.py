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
    from safealign import book_pages, paths, profiles
    from safealign.data import mixing

    if not (paths.results_dir("cpu") / "align" / "dpo.json").exists():
        pytest.skip("no committed cpu alignment")
    page = book_pages.cost_page("cpu")
    assert "Utilisation fitted on dpo" in page and "Qwen2-7B" in page and "Falcon-11B" in page
    assert "| dpo | " in page and "| orpo | " in page
    assert "## Generation, checked on this machine" in page and "| base: 880 prompts, greedy" in page
    assert "| paper B, Table 1's policies | " in page and "| paper B, mixing points | " in page   # paper_b/ answers
    assert "filtering/" not in page and "paper_b/base:" not in page                              # summed, not listed
    points = len(mixing.sweep(profiles.load("gpu").mixing.grid.to_dict()))
    assert "## Paper B's stages on the gpu profile" in page and f"| mixing-<point> (mean of the points) | {points} |" in page
    assert "8,000 general rows" in page and "GRPO over every training prompt" in page
    evaluated = len(profiles.load("gpu").paper_b_eval.models) + points
    assert f"| paper-b-eval-<model>, and each mixing point's evaluation (each) | {evaluated} |" in page


def test_generation_batches_pad_prompts_and_decode_until_the_longest_answer_ends():
    batches = cost.generation_batches([5, 7, 9], [2, 10, 4], batch_size=2, max_new_tokens=8)
    assert batches == ((2, 7, 8), (1, 9, 5))            # capped at max_new_tokens; answer + end token
    sampled = cost.generation_batches([5], [1, 3, 2], batch_size=8, max_new_tokens=16, sequences_per_prompt=3)
    assert sampled == ((3, 5, 4),)
    with pytest.raises(ValueError, match="one answer length"):
        cost.generation_batches([5, 6], [1], batch_size=2, max_new_tokens=4)


def test_a_generation_utilisation_fitted_on_one_call_predicts_it_and_scales_with_work():
    shape = cost.SEED_SHAPES["Qwen2-7B"]
    one = cost.GenerationCall("a", ((4, 10, 20),), seconds=10.0)
    twice = cost.GenerationCall("b", ((4, 10, 20), (4, 10, 20)), seconds=30.0)
    u = cost.calibrate_generation([one, twice], shape, fit_on=0)
    rows = {r["call"]: r for r in cost.check_generation([one, twice], shape, u)}
    assert rows["a"]["predicted / measured"] == 1.0 and rows["b"]["predicted_s"] == pytest.approx(20.0)
    assert rows["b"]["sequences"] == 8 and rows["b"]["decoding steps"] == 40


def test_memory_rules():
    shape = cost.SEED_SHAPES["Qwen2-7B"]
    kv = cost.kv_cache_gb(shape, sequences=1, context_tokens=1)
    assert kv * 2**30 == 2 * 28 * 4 * 128 * 2                 # K and V, layers, kv heads, head width, bf16
    full = cost.activation_memory_gb(shape, 1, 512, checkpointing=False)
    kept = cost.activation_memory_gb(shape, 1, 512, checkpointing=True)
    logits = 4 * 512 * shape.vocab / 2**30
    assert full - logits == pytest.approx(28 * 512 * 3584 * 34 / 2**30)
    assert kept - logits == pytest.approx((28 * 2 * 512 * 3584 + 512 * 3584 * 34) / 2**30)  # inputs + one layer
    assert cost.activation_memory_gb(shape, 1, 512, False, flash=False) > full  # the score matrices
