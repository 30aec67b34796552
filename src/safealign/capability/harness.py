"""General capability through lm-evaluation-harness: `--model vllm` on the gpu profile, `--model hf` here.

The book's own scorer (capability.benchmarks) builds every multiple-choice item from the shipped benchmark
copies in lm-eval's prompt formats. This module hands exactly those items to lm-eval, as one local task per
benchmark over a JSON-lines copy of the items, so the two scorers answer the same questions and can be
checked against each other (tests/test_harness.py: same predictions on SmolLM2), and so a GPU machine
scores them with lm-eval's vLLM model (tensor and data parallel) without reaching the hub:

    items = benchmarks.MC_BUILDERS["arc_easy"](task_cfg, seed)
    scores = run({"arc_easy": items}, "vllm", model_args("vllm", "Qwen/Qwen2-7B-Instruct",
                 {"tensor_parallel_size": 2}), workdir)      # {"arc_easy": {"acc": ..., "acc_norm": ..., "n": ...}}

An lm-eval request is context + target_delimiter + choice; the delimiter is "" here and each choice is the
item's continuation verbatim (leading space included), so a request is byte for byte the book's option.
Winogrande's partial scoring (a context per choice, one shared continuation) uses lm-eval's multiple-input
form: the contexts are the choices, the shared continuation the target, the gold index the "text".
Here the model is the one already in memory (`hf_lm`: lm-eval's HFLM around it), so an aligned policy is
scored without saving or reloading it; on the gpu profile lm-eval loads the saved policy into vLLM.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

from .benchmarks import MCItem

MODEL_KINDS = ("hf", "vllm")
# model_args lm-eval's vLLM model takes from the profile's engine settings (lm_eval/models/vllm_causallms.py)
VLLM_ENGINE_KEYS = ("tensor_parallel_size", "data_parallel_size", "dtype", "gpu_memory_utilization",
                    "max_model_len", "seed", "quantization", "max_num_seqs")


def is_partial(task: str, items: Sequence[MCItem]) -> bool:
    """True when every item shares one continuation across different contexts (winogrande's partial scoring),
    False when every item shares one context across its continuations; a task mixing the two is refused."""
    forms = set()
    for k, item in enumerate(items):
        contexts, continuations = {c for c, _ in item.options}, {c for _, c in item.options}
        if len(contexts) == 1:
            forms.add(False)
        elif len(continuations) == 1:
            forms.add(True)
        else:
            raise ValueError(f"{task} item {k}: its options differ in both context and continuation; lm-eval "
                             "scores one shared context (choices = continuations) or one shared continuation")
    if len(forms) > 1:
        raise ValueError(f"{task}: some items share a context and others a continuation; one form per task")
    return forms == {True}


def mc_docs(task: str, items: Sequence[MCItem]) -> list[dict]:
    """One lm-eval document per item. Shared context: the context, the continuations as choices, the gold index.
    Partial scoring: the contexts as choices, the shared continuation, the gold index."""
    if is_partial(task, items):
        return [{"contexts": [ctx for ctx, _ in item.options], "continuation": item.options[0][1], "gold": item.gold}
                for item in items]
    return [{"context": item.options[0][0], "choices": [cont for _, cont in item.options], "gold": item.gold}
            for item in items]


def task_config(task: str, path: Path, partial: bool = False) -> dict:
    """An lm-eval task over the JSON-lines file `path` of `mc_docs` (no hub, no few-shot: shots are in the context).
    Fields named by their feature are passed through untouched (no template rendering)."""
    fields = ({"doc_to_text": "gold", "doc_to_choice": "contexts", "doc_to_target": "continuation"} if partial else
              {"doc_to_text": "context", "doc_to_choice": "choices", "doc_to_target": "gold"})
    return {
        "task": f"safealign_{task}", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(path)}},
        "test_split": "test", "output_type": "multiple_choice", "num_fewshot": 0, **fields,
        "target_delimiter": "",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                        {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }


def model_args(kind: str, pretrained: str, engine: Mapping | None = None) -> dict:
    """lm-eval's model_args for `kind`: hf (fp32 on CPU, as the book's scorer) or vllm (the engine settings)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"lm-eval model kind {kind!r} is not one of {MODEL_KINDS}")
    engine = dict(engine or {})
    if kind == "hf":
        return {"pretrained": pretrained, "dtype": engine.pop("dtype", "float32"), "device": engine.pop("device", "cpu"),
                **engine}
    unknown = sorted(set(engine) - set(VLLM_ENGINE_KEYS))
    if unknown:
        raise ValueError(f"unknown vLLM engine setting(s) {unknown} for lm-eval; known: {list(VLLM_ENGINE_KEYS)}")
    return {"pretrained": pretrained, "dtype": "bfloat16", **engine}


def write_tasks(tasks: Mapping[str, Sequence[MCItem]], workdir: Path) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    configs = []
    for task, items in tasks.items():
        path = workdir / f"{task}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for doc in mc_docs(task, items):
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        configs.append(task_config(task, path, is_partial(task, items)))
    return configs


def _number(value):
    """lm-eval writes "N/A" for a stderr it did not compute (one item)."""
    return value if isinstance(value, (int, float)) else None


def _lm_eval():
    try:
        import lm_eval
    except ImportError as err:
        raise ImportError("capability through lm-eval needs lm-eval (`pip install lm-eval==0.4.13`, in "
                          "requirements.txt)") from err
    return lm_eval


def lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def hf_lm(model, tokenizer, batch_size: int, max_length: int | None = None):
    """lm-eval's HFLM around a model already in memory (no reload; fp32 on CPU as loaded); contexts longer
    than `max_length` tokens are cut from the left, as the book's scorer cuts them."""
    _lm_eval()
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length)


def run(tasks: Mapping[str, Sequence[MCItem]], kind, args: Mapping | None, workdir: Path | str,
        batch_size: int | str = 8, seed: int = 0) -> dict:
    """{task: {acc, acc_stderr, acc_norm, acc_norm_stderr, n, per_item}} from lm-eval on the book's own items;
    `per_item` holds lm-eval's choice per item (argmax log-likelihood), for the agreement check. `kind` is a
    model kind of MODEL_KINDS (lm-eval loads `args["pretrained"]`) or an lm-eval LM already built (`hf_lm`)."""
    lm_eval = _lm_eval()
    if isinstance(kind, str) and kind not in MODEL_KINDS:
        raise ValueError(f"lm-eval model kind {kind!r} is not one of {MODEL_KINDS}")
    configs = write_tasks(tasks, Path(workdir))
    out = lm_eval.simple_evaluate(model=kind, model_args=dict(args) if isinstance(kind, str) else None,
                                  tasks=configs, batch_size=batch_size,
                                  # any positive count gives acc's closed-form stderr (a mean: no draws are made)
                                  log_samples=True, bootstrap_iters=1, random_seed=seed, numpy_random_seed=seed,
                                  torch_random_seed=seed, fewshot_random_seed=seed)
    results = {}
    for task in tasks:
        name = f"safealign_{task}"
        scores, samples = out["results"][name], sorted(out["samples"][name], key=lambda s: s["doc_id"])
        per_item = [max(range(len(s["resps"])), key=lambda i: s["resps"][i][0][0]) for s in samples]
        results[task] = {"acc": scores["acc,none"], "acc_stderr": _number(scores.get("acc_stderr,none")),
                         "acc_norm": scores["acc_norm,none"], "acc_norm_stderr": _number(scores.get("acc_norm_stderr,none")),
                         "n": len(samples), "per_item": per_item}
    return results
