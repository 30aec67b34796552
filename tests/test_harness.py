"""lm-eval on the book's own multiple-choice items (capability.harness): the gpu profile's capability path."""

import pytest

from safealign.capability import benchmarks as capability, harness
from safealign.capability.benchmarks import MCItem


def test_an_item_becomes_one_document_with_its_continuations_verbatim():
    item = MCItem([("Question: 2+2?\nAnswer:", " 4"), ("Question: 2+2?\nAnswer:", " 5")], 0)
    assert harness.mc_docs("arc_easy", [item]) == [{"context": "Question: 2+2?\nAnswer:", "choices": [" 4", " 5"], "gold": 0}]


def test_partial_scoring_becomes_lm_evals_multiple_input_form():
    item = MCItem([("The cup fell because it", " was full."), ("The glass fell because it", " was full.")], 1)
    assert harness.mc_docs("winogrande", [item]) == [
        {"contexts": ["The cup fell because it", "The glass fell because it"], "continuation": " was full.", "gold": 1}]
    config = harness.task_config("winogrande", "/tmp/w.jsonl", partial=True)
    assert (config["doc_to_text"], config["doc_to_choice"], config["doc_to_target"]) == ("gold", "contexts", "continuation")


def test_items_differing_in_context_and_continuation_are_refused_by_name():
    item = MCItem([("A", " x"), ("B", " y")], 0)
    with pytest.raises(ValueError, match="winogrande item 0: its options differ in both context and continuation"):
        harness.mc_docs("winogrande", [item])
    shared = MCItem([("Q", " x"), ("Q", " y")], 0)
    partial = MCItem([("A", " z"), ("B", " z")], 0)
    with pytest.raises(ValueError, match="mc: some items share a context and others a continuation"):
        harness.mc_docs("mc", [shared, partial])


def test_the_request_is_the_option_byte_for_byte():
    config = harness.task_config("arc_easy", "/tmp/x.jsonl")
    assert config["target_delimiter"] == "" and config["num_fewshot"] == 0
    assert config["dataset_path"] == "json" and config["dataset_kwargs"] == {"data_files": {"test": "/tmp/x.jsonl"}}


def test_model_args_per_kind():
    assert harness.model_args("hf", "/m") == {"pretrained": "/m", "dtype": "float32", "device": "cpu"}
    assert harness.model_args("vllm", "Qwen/Qwen2-7B-Instruct", {"tensor_parallel_size": 2, "data_parallel_size": 4}) == {
        "pretrained": "Qwen/Qwen2-7B-Instruct", "dtype": "bfloat16", "tensor_parallel_size": 2, "data_parallel_size": 4}
    with pytest.raises(ValueError, match=r"unknown vLLM engine setting\(s\) \['tensor_parallel'\]"):
        harness.model_args("vllm", "m", {"tensor_parallel": 2})
    with pytest.raises(ValueError, match="model kind 'ollama'"):
        harness.model_args("ollama", "m")


@pytest.mark.parametrize("in_memory", [False, True], ids=["lm-eval loads the path", "the model in memory"])
def test_lm_eval_and_the_book_scorer_choose_the_same_answers_on_smollm2(tmp_path, in_memory):
    pytest.importorskip("lm_eval")
    from safealign import models

    tasks = {"arc_easy": capability.mc_items("arc_easy", 8, 0), "hellaswag": capability.hellaswag_items(4, 0),
             "winogrande": capability.mc_items("winogrande", 6, 0)}
    model, tokenizer = models.load_model("smollm2-135m-instruct")
    if in_memory:
        theirs = harness.run(tasks, harness.hf_lm(model, tokenizer, 4), None, tmp_path, batch_size=4)
    else:
        path = str(models.local_path("smollm2-135m-instruct"))
        theirs = harness.run(tasks, "hf", harness.model_args("hf", path), tmp_path, batch_size=4)
    for task, items in tasks.items():
        ll = capability.loglikelihoods(model, tokenizer, [o for it in items for o in it.options], 1024, task)
        ours, pos = [], 0
        for item in items:
            k = len(item.options)
            ours.append(max(range(k), key=lambda i: ll[pos + i]))
            pos += k
        assert theirs[task]["per_item"] == ours, task
        book = capability.score_multiple_choice(model, tokenizer, items)
        assert theirs[task]["n"] == book["n"] == len(items)
        assert theirs[task]["acc"] == pytest.approx(book["acc"])
        if task != "winogrande":  # lm-eval's acc_norm divides a partial-scoring option by its context's length
            assert theirs[task]["acc_norm"] == pytest.approx(book["acc_norm"])
        assert theirs[task]["acc_stderr"] == pytest.approx(book["acc_stderr"]), task
