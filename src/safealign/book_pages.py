"""Pages of the book written from the pipeline's own records at build time (never typed by hand).

`scale_page` states the real scale of a profile's run, from the committed results and stamps: pairs and
steps of each alignment, prompts per benchmark, samples per toxicity prompt, items per capability task,
and what each stage cost (wall time, peak memory) on the machine that ran it.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import paths


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _table(header: list[str], rows: list[list]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows])


def scale_page(profile: str) -> str:
    """Markdown: what the `profile` run actually did and what it cost, read from book/results and stamps."""
    from . import pipeline

    results = paths.results_dir(profile)
    lines = [f"# Scale and cost of the `{profile}` run", "",
             "Every number on this page is read from what the pipeline recorded (`book/results/"
             f"{profile}/*.json` and the stamps in `book/executed/{profile}/`) when the book is built; "
             "nothing here is typed by hand. Stages that have not run yet are absent.", ""]
    aligns = {m: _read(results / "align" / f"{m}.json") for m in _methods()}
    rows = [[r["label"], r["trainer"], r["train_pairs_available"], r["pairs_seen"], r["steps"], r["tokens_seen"],
             r["wall_s"], r.get("peak_rss_gb")] for r in aligns.values() if r]
    if rows:
        lines += ["## Alignment", "", "The preference pairs each method trained on, the optimiser steps and tokens it "
                  "saw, its training wall time and the peak memory of its process.", ""]
        lines += _table(["method", "trainer", "pairs available", "pairs seen", "steps", "tokens seen", "wall s",
                         "peak RSS GB"], rows) + [""]
    evals = {p.stem: _read(p) for p in sorted((results / "eval").glob("*.json"))}
    rows = []
    for model, r in evals.items():
        if not r:
            continue
        rows.append([model, r["safety_score"]["n"], r["safety_score"].get("population"), r["asr"]["n"],
                     r["asr"].get("population"), r["over_refusal"]["n"],
                     ", ".join(f"{k}: {v.get('n', '')}" for k, v in r.get("general", {}).items()),
                     round(sum((r.get("generation_seconds") or {}).values()), 1) or None])
    if rows:
        lines += ["## Evaluation", "", "Prompts judged per benchmark (with the size of the full shipped set), "
                  "items per capability task, and the seconds producing the answers took when they were generated.", ""]
        lines += _table(["model", "ALERT prompts", "ALERT population", "adversarial prompts", "adversarial population",
                         "XSTest safe prompts", "capability items per task", "generation s"], rows) + [""]
    rows = []
    for stage in pipeline.stages(profile):
        stamp = _read(paths.executed_dir(profile) / f"{stage.name}.stamp.json")
        if stamp:
            rows.append([stage.name, stage.notebook, stamp.get("seconds"), stamp.get("finished")])
    if rows:
        lines += ["## Every stage", "", "Wall seconds of each stage's last run (the machine's other jobs included).", ""]
        lines += _table(["stage", "notebook", "seconds", "finished"], rows) + [""]
    return "\n".join(lines) + "\n"


GPU_CHECK = "gpu_check.json"  # written by scripts/gpu_check.py --out book/results/<profile>/gpu_check.json


def cost_page(profile: str, gpu_profile: str = "gpu") -> str:
    """Markdown: the cost model (safealign.cost) fitted and checked on `profile`'s measured alignment runs,
    then applied to the gpu profile's sizes at the seeds' model sizes."""
    from . import cost, models, profiles
    from .data.curation import PAPER_A_N

    results = paths.results_dir(profile)
    aligns = {m: r for m in _methods() if (r := _read(results / "align" / f"{m}.json"))}
    lines = ["# Cost model: the gpu profile at the seeds' sizes", "",
             "FLOPs, memory and time per stage from `safealign.cost` (standard dense-transformer counts: 6N per "
             "training token, 4N with LoRA, 2N per reference, prefill or generated token). The CPU utilisation is "
             f"fitted on this machine's measured `{profile}` alignment runs and checked against the rest; nothing "
             "on this page is typed by hand.", ""]
    if not aligns:
        return "\n".join(lines + ["No alignment run is recorded yet.", ""])
    from transformers import AutoConfig

    shape = cost.shape_of(AutoConfig.from_pretrained(models.resolve(profiles.load(profile).policy_model)))
    fit_on = ["dpo"] if "dpo" in aligns else [next(iter(aligns))]
    utilisation = cost.calibrate(aligns, shape, fit_on)
    rows = cost.check(aligns, shape, utilisation)
    lines += [f"## Checked on this machine ({shape.params() / 1e6:.1f}M parameters, 2 cores)", "",
              f"Utilisation fitted on {', '.join(fit_on)}: **{utilisation:.3f}** of the {cost.CPU_PEAK_FLOPS / 1e9:.0f} "
              "GFLOP/s fp32 peak. Every run's training time predicted from its tokens with that one number:", ""]
    lines += _table(["method", "tokens", "reference pass", "measured s", "predicted s", "predicted / measured"],
                    [list(r.values()) for r in rows]) + [""]
    ratios = sorted(r["predicted / measured"] for r in rows)
    lines += [f"Predicted / measured ranges from {ratios[0]} to {ratios[-1]} (median {ratios[len(ratios) // 2]}): "
              "the runs shared the cores with other jobs, so the measured times carry that noise.", ""]
    lines += _generation_check(profile, shape)
    gpu = profiles.load(gpu_profile)
    pairs = round(PAPER_A_N * gpu.splits.policy_train)  # paper A's N after the prompt split
    tokens = pairs * 2 * gpu.align.max_length * gpu.align.hyper.num_train_epochs
    gpus = gpu.launch.num_processes
    lora = gpu.align.lora is not None
    measured = _read(results.parent / gpu_profile / GPU_CHECK) or _read(results / GPU_CHECK)
    rows = []
    micro_batch = gpu.align.hyper.per_device_train_batch_size
    checkpointing = bool(gpu.align.hyper.get("gradient_checkpointing", False))
    for name, s in cost.SEED_SHAPES.items():
        if name.startswith("Llama-Guard"):
            continue
        flops = cost.align_flops(s, tokens, lora, "precomputed" if gpu.align.hyper.precompute_ref_log_probs else "per step")
        hours = flops / (gpus * cost.H200_BF16_PEAK_FLOPS * cost.ASSUMED_GPU_TRAIN_UTILISATION) / 3600
        # a DPO micro-batch holds chosen and rejected answers: 2 x the pairs per device
        acts = cost.activation_memory_gb(s, 2 * micro_batch, gpu.align.max_length, checkpointing)
        rows.append([name, f"{s.params() / 1e9:.2f}B", f"{flops:.2e}", f"{cost.training_memory_gb(s, lora, gpus):.1f}",
                     f"{acts:.1f}", f"{hours:.2f}",
                     (measured or {}).get("seed_layers", {}).get(name, {}).get("model_fwd_bwd_s_estimate")])
    lines += ["## Alignment on the gpu profile", "",
              f"{pairs:,} pairs (paper A's N = {PAPER_A_N:,} × policy_train {gpu.splits.policy_train}), at most "
              f"{gpu.align.max_length} tokens per answer (an upper bound: every answer at max_length), "
              f"{gpu.align.hyper.num_train_epochs:g} epoch, {'LoRA' if lora else 'full fine-tune'}, {gpus} GPUs with "
              f"`{gpu.launch.accelerate_config}`; time at an assumed {cost.ASSUMED_GPU_TRAIN_UTILISATION:.0%} of the H200's "
              f"{cost.H200_BF16_PEAK_FLOPS / 1e12:.0f} TFLOP/s bf16 peak. The last column is `scripts/gpu_check.py`'s "
              "measured forward+backward seconds of the whole model for 8k tokens (one layer timed × depth), when a GPU "
              f"run exists. Activations are per GPU for one micro-batch of {micro_batch} pairs (chosen and rejected, "
              f"{gpu.align.max_length} tokens each), gradient checkpointing {'on' if checkpointing else 'off'}, fused "
              "attention, fp32 logits included; ZeRO-3 does not shard them.", ""]
    lines += _table(["model", "parameters", "training FLOPs", "weights+grads+optimiser GB per GPU (ZeRO-3)",
                     "activations GB per GPU", "hours (assumed utilisation)", "measured fwd+bwd s / 8k tokens"], rows) + [""]
    evals = [r for p in sorted((results / "eval").glob("*.json")) if (r := _read(p))]
    if evals:
        e = evals[0]
        new = gpu.eval.alert.max_new_tokens
        prompts = {"ALERT": e["safety_score"].get("population"), "adversarial ALERT": e["asr"].get("population"),
                   "XSTest safe": e["over_refusal"].get("population")}
        guard = cost.SEED_SHAPES["Llama-Guard-3-8B"]
        rows = []
        for policy_name in ("Qwen2-7B", "Falcon-11B"):
            policy_shape = cost.SEED_SHAPES[policy_name]
            for name, n in prompts.items():
                if not n:
                    continue
                policy = cost.generation_flops(policy_shape, n, 64, new)
                judge = cost.generation_flops(guard, n, 64 + new, 0)
                rows.append([policy_name, name, n, new, f"{policy:.2e}", f"{judge:.2e}",
                             f"{cost.kv_cache_gb(policy_shape, 256, 64 + new):.1f}",
                             f"{n * new * cost.decode_seconds_per_step(policy_shape) / 256 / 60:.1f}"])
        lines += ["## Evaluation on the gpu profile (one model)", "",
                  f"Every shipped prompt, {new} new tokens each (prompts assumed 64 tokens), Qwen2-7B or Falcon-11B "
                  "answering and Llama Guard 3 8B judging. Decoding is memory-bound: a step reads every bf16 weight once "
                  f"({cost.H200_HBM_BYTES_PER_S / 1e12:.1f} TB/s), so minutes are given for batches of 256 sequences, "
                  "whose bf16 KV cache at the full context is the column before.", ""]
        lines += _table(["policy", "benchmark", "prompts", "new tokens", "policy FLOPs", "judge FLOPs",
                         "KV cache GB (batch 256)", "decode minutes (batch 256)"], rows) + [""]
    if evals:
        lines += _paper_b_stages(gpu, pairs, evals[0])
    if measured is None:
        lines += ["No GPU run of `scripts/gpu_check.py` is recorded yet (no GPU was available to the sessions that "
                  "built this book): the GPU times above rest on the stated utilisation, not on a measurement.", ""]
    return "\n".join(lines) + "\n"


PROMPT_TOKENS = 64         # assumed prompt length, as in the evaluation table


def _paper_b_stages(gpu, pairs: int, evaluation: dict) -> list[str]:
    """Markdown lines: paper B's training and generation stages at the gpu profile's sizes (Qwen2-7B, paper B's
    model), each an upper bound (every row at its length limit). `evaluation`: a recorded eval result, for the
    sizes of the shipped ALERT and XSTest sets and ALERT's categories."""
    from . import cost
    from .data import mixing

    shape = cost.SEED_SHAPES["Qwen2-7B"]
    gpus = gpu.launch.num_processes
    lora = gpu.align.lora is not None
    train_rate = gpus * cost.H200_BF16_PEAK_FLOPS * cost.ASSUMED_GPU_TRAIN_UTILISATION

    def row(stage, runs, trained, generated_seqs, new_tokens, prefilled=0):
        flops = (cost.align_flops(shape, trained, lora, "none")
                 + cost.generation_flops(shape, generated_seqs, PROMPT_TOKENS, new_tokens)
                 + 2 * shape.params() * prefilled)
        decode_min = generated_seqs * new_tokens * cost.decode_seconds_per_step(shape) / 256 / 60
        return [stage, runs, f"{trained:,.0f}", f"{generated_seqs:,}", new_tokens, f"{flops:.2e}",
                f"{cost.align_flops(shape, trained, lora, 'none') / train_rate / 60:.2f}", f"{decode_min:.2f}"]

    m = gpu.mixing
    points = mixing.sweep(m.grid.to_dict())
    rows_trained = sum(pt.general + pt.safety_rows for pt in points) * m.hyper.num_train_epochs
    po, rs = gpu.adaptive.po, gpu.adaptive.rs
    rs_prompts = rs.prompts or pairs  # null = every training pair's prompt: at most one per pair
    po_prompts = po.prompts or pairs
    b = gpu.paper_b_eval
    alert_all = evaluation["safety_score"]["population"]
    categories = len(evaluation["safety_score"].get("by_category") or {})
    alert = alert_all if b.alert_per_category is None or not categories else min(alert_all, b.alert_per_category * categories)
    per_type = b.per_type or gpu.type_pools.test_per_type  # null = a type's whole test pool: at most test_per_type
    judged = 3 * per_type + alert + evaluation["over_refusal"]["population"] + b.coconot_contrast
    rows = [
        row("mixing-<point> (mean of the points)", len(points), rows_trained * m.max_length / len(points), 0, 0),
        row("align-grpo / align-appo (each)", 2, po_prompts * po.num_generations * (PROMPT_TOKENS + po.max_completion_length)
            * po.num_train_epochs, po_prompts * po.num_generations, po.max_completion_length),
        row("align-rs / align-ars (each; ARS reuses RS's samples)", 2, rs_prompts * (PROMPT_TOKENS + rs.max_new_tokens)
            * rs.num_train_epochs, rs_prompts * rs.n, rs.max_new_tokens, prefilled=rs_prompts * rs.n * (PROMPT_TOKENS + rs.max_new_tokens)),
        # a mixing point's stage evaluates its policy as a paper-b-eval stage does (notebook 13)
        row("paper-b-eval-<model>, and each mixing point's evaluation (each)", len(b.models) + len(points), 0, judged,
            b.max_new_tokens, prefilled=judged * (PROMPT_TOKENS + b.max_new_tokens)),
        row("the same: GSM8K (each)", len(b.models) + len(points), 0, b.gsm8k, b.gsm8k_max_new_tokens),
    ]
    return ["## Paper B's stages on the gpu profile", "",
            f"Qwen2-7B (paper B's model) at the gpu profile's own sizes for paper B's sections (profiles.yaml says how "
            f"they scale paper B's down to the shipped data): the mixing grid's {len(points)} points of {m.grid.general:,} general rows, "
            f"GRPO over {'every training prompt' if po.prompts is None else f'{po.prompts:,} prompts'} (at most {po_prompts:,}), RS over every training prompt (at most {rs_prompts:,}). Upper bounds: every "
            f"training row at its length limit ({m.max_length} tokens for a mixture row), prompts of {PROMPT_TOKENS} "
            "tokens, every answer at its token limit. Judged or scored rows add a 2N forward per token (the harm judge "
            "or the token reward); RS's sampling (n answers per prompt, scored) is counted once per run though ARS "
            "reuses it. ADPO trains on D_Safety's pairs like align-dpo above. Hours are training at the "
            f"assumed {cost.ASSUMED_GPU_TRAIN_UTILISATION:.0%} utilisation on {gpus} GPUs; decoding minutes are for "
            "batches of 256 sequences, memory-bound as above.", ""] + _table(
        ["stage", "runs", "tokens trained per run", "sequences generated per run", "new tokens each",
         "FLOPs per run", "training minutes per run", "decode minutes per run (batch 256)"], rows) + [""]


# answer caches whose generate calls the plain rule describes: paper A's (<model>.json) and paper B's evaluations
# (paper_b/<model or mixing point>.json). Not filtering/: its calls carry a logits processor (reward passes, store
# lookups per step) that the rule does not count.
GENERATION_CHECKED = ("*.json", "paper_b/*.json")


def recorded_generation_calls(profile: str, tokenizer, models: list[str] | None = None) -> list:
    """Every greedy or sampled `generate` call kept in the answer caches (book/answers/<profile>/<model>.json and
    paper_b/<name>.json) with its recorded seconds, as `cost.GenerationCall`s: the batches rebuilt as
    `generate.hf.generate` formed them. `models`: names relative to the folder, without .json."""
    from . import cost
    from .generate.hf import chat_inputs

    calls = []
    folder = paths.answers_dir(profile)
    names = models if models is not None else [str(p.relative_to(folder).with_suffix(""))
                                               for pattern in GENERATION_CHECKED for p in sorted(folder.glob(pattern))]
    for model in names:
        entries = _read(folder / f"{model}.json") or {}
        for entry in entries.values():
            if entry.get("call") != "generate" or not entry.get("seconds"):
                continue
            args = entry["inputs"]
            texts = chat_inputs(tokenizer, args["prompts"], args.get("system"))
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            n = args.get("num_return_sequences", 1)
            answers = [a if isinstance(a, list) else [a] for a in entry["value"]]
            prompt_tokens = [min(512, len(tokenizer(texts[i], add_special_tokens=False)["input_ids"])) for i in order]
            answer_tokens = [len(tokenizer(a, add_special_tokens=False)["input_ids"]) for i in order for a in answers[i]]
            batches = cost.generation_batches(prompt_tokens, answer_tokens, args.get("batch_size", 16),
                                              args.get("max_new_tokens", 64), n)
            mode = f"sampled ×{n}" if args.get("do_sample") else "greedy"
            calls.append(cost.GenerationCall(f"{model}: {len(texts)} prompts, {mode}, ≤{args.get('max_new_tokens')} "
                                             f"new tokens, batch {args.get('batch_size')}", batches, entry["seconds"]))
    return calls


def _generation_check(profile: str, shape) -> list[str]:
    """The generation FLOP rule fitted on one recorded call and checked on every other (markdown lines): paper A's
    calls one by one, paper B's (8 policies and every mixing point) summed up by group."""
    from . import cost, models, profiles

    tokenizer = models.load_tokenizer(profiles.load(profile).policy_model)
    calls = recorded_generation_calls(profile, tokenizer)
    if not calls:
        return []
    fit_on = max(range(len(calls)), key=lambda i: calls[i].sequences if calls[i].label.startswith("base:") else -1)
    utilisation = cost.calibrate_generation(calls, shape, fit_on)
    rows = cost.check_generation(calls, shape, utilisation)
    paper_a = [r for r in rows if not r["call"].startswith("paper_b/")]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["call"].startswith("paper_b/"):
            name = r["call"].removeprefix("paper_b/")
            groups.setdefault("paper B, mixing points" if name.startswith("mixing-") else "paper B, Table 1's policies",
                              []).append(r)
    ratios = sorted(r["predicted / measured"] for r in rows)
    lines = ["## Generation, checked on this machine", "",
             f"The generation rule (2N per prompt token, 2N plus attention per generated token, every sequence of a "
             f"padded batch computed until its longest answer ends) fitted on one recorded call, `{calls[fit_on].label}`: "
             f"utilisation **{utilisation:.3f}** of the fp32 peak, then used to predict every other generation call kept "
             f"in `book/answers/{profile}/` and its `paper_b/` from its recorded seconds ({len(rows)} calls; the filtered "
             "answers are left out, their decoding does more per token than the rule counts). Paper A's calls:", ""]
    lines += _table(["call", "sequences", "batches", "decoding steps", "measured s", "predicted s", "predicted / measured"],
                    [list(r.values()) for r in paper_a]) + [""]
    if groups:
        summary = []
        for group, members in groups.items():
            r = sorted(m["predicted / measured"] for m in members)
            measured, predicted = sum(m["measured_s"] for m in members), sum(m["predicted_s"] for m in members)
            summary.append([group, len(members), sum(m["sequences"] for m in members), round(measured, 1),
                            round(predicted, 1), round(predicted / measured, 2), f"{r[0]} to {r[-1]} (median {r[len(r) // 2]})"])
        lines += ["Paper B's calls, by group (each call predicted as above):", ""]
        lines += _table(["calls of", "calls", "sequences", "measured s", "predicted s", "predicted / measured (sums)",
                         "predicted / measured per call"], summary) + [""]
    lines += [f"Over every call, predicted / measured ranges from {ratios[0]} to {ratios[-1]} (median "
              f"{ratios[len(ratios) // 2]}). "
              "A ratio below 1 is a call slower than the rule says: small and short calls run further from the peak than "
              "the large call the rule was fitted on, and calls that shared the cores with other jobs took longer. A ratio "
              "above 1 is a faster call: prefill (a long system prompt) runs nearer the peak than decoding. The spread is "
              "what the rule's time estimates carry.", ""]
    return lines


def _methods() -> list[str]:
    from .align import METHODS

    return list(METHODS)


def generated_dir(profile: str) -> Path:
    return paths.book_dir() / "generated" / profile


def write(profile: str) -> list[Path]:
    """Write the generated pages of `profile`; returns their paths (each relative page is in the toc)."""
    folder = generated_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, page in (("scale", scale_page), ("cost", cost_page)):
        target = folder / f"{name}.md"
        text = page(profile)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        written.append(target)
    return written
