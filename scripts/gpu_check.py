"""GPU check: the gpu profile's code paths on one accelerator, with timings and memory, in a few minutes.

    python scripts/gpu_check.py --out gpu_check.json            # on the GPU machine (device: cuda)
    python scripts/gpu_check.py --device cpu --quick             # here, to check the script itself

Needs only torch, transformers, accelerate and peft (what the lent GPU machine has preinstalled; TRL,
datasets and pyarrow would not fit its 64 MiB tree as wheels); nothing is downloaded: every model and the
judge's tokenizer are built on the spot with random weights, so the figures are speed and memory, not quality.
What it runs, each timed (CUDA events are synchronised) with peak memory:
1. a DPO training step the way the gpu profile trains: fp32 master weights, the profile's LoRA adapter
   (peft, r 16, alpha 32, every linear layer), bf16 mixed precision through accelerate's `Accelerator`, a
   frozen reference model, TRL's sigmoid loss written out, AdamW on the adapter — on a small Llama;
2. greedy generation of a batch (KV cache), new tokens per second;
3. the book's Llama Guard judge (`safealign.judges.llama_guard.LlamaGuardJudge`: its template, greedy verdict,
   P(unsafe) from the first generated token) on a small random Llama with a tokenizer trained on the spot;
4. one decoder layer of each seed size (Qwen2-7B, Falcon-11B-like widths, Llama-Guard-3-8B) forward and
   backward in bf16, from which the book's cost model scales per-layer time and memory by depth.
The JSON it writes is what `book/results/<profile>/gpu_check.json` holds when a GPU run exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from safealign.cost import SEED_SHAPES  # noqa: E402  (stdlib only: runs where only torch is installed)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device, repeats=3):
    fn()  # warm-up
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats, out


def _peak_gb(device):
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


def _reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def tiny_llama(vocab, hidden, layers, device, dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                         num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 128),
                         max_position_embeddings=2048, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    return LlamaForCausalLM(config).to(device=device, dtype=dtype)


def sequence_logps(model, ids, completion_mask):
    logits = model(input_ids=ids).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (logp * completion_mask[:, 1:]).sum(-1)


def dpo_step(accelerator, policy, reference, optimizer, ids, mask, beta):
    with accelerator.autocast():
        pol = sequence_logps(policy, ids, mask)
        with torch.no_grad():
            ref = sequence_logps(reference, ids, mask)
    n = ids.shape[0] // 2
    delta = (pol[:n] - ref[:n]) - (pol[n:] - ref[n:])
    loss = -torch.nn.functional.logsigmoid(beta * delta).mean()
    optimizer.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    optimizer.step()
    return loss.item()


def check_training(device, quick):
    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model

    pairs, length, hidden, layers = (4, 64, 128, 2) if quick else (16, 512, 1024, 8)
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    accelerator = Accelerator(cpu=device.type == "cpu", mixed_precision="bf16" if use_bf16 else "no")
    base = tiny_llama(8192, hidden, layers, device, torch.float32)
    params = sum(p.numel() for p in base.parameters())
    # the gpu profile's align.lora
    policy = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=16, lora_alpha=32, lora_dropout=0.0,
                                             target_modules="all-linear"))
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    reference = tiny_llama(8192, hidden, layers, device, torch.float32).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-4)
    policy, optimizer = accelerator.prepare(policy, optimizer)
    ids = torch.randint(3, 8192, (2 * pairs, length), device=device)
    mask = torch.zeros_like(ids)
    mask[:, length // 2:] = 1

    _reset_peak(device)
    seconds, loss = _timed(lambda: dpo_step(accelerator, policy, reference, optimizer, ids, mask, 0.1), device)
    tokens = 2 * pairs * length
    return {"pairs": pairs, "length": length, "parameters": params, "lora_trainable_parameters": trainable,
            "bf16": use_bf16, "accelerate_mixed_precision": accelerator.mixed_precision, "step_s": round(seconds, 4),
            "tokens_per_s": round(tokens / seconds, 1), "loss": round(loss, 4), "peak_gb": _peak_gb(device),
            # LoRA: policy fwd+bwd without weight gradients of the frozen weights (4 FLOPs/param/token) + reference fwd (2)
            "achieved_tflops": round(6 * params * tokens / seconds / 1e12, 3)}


@torch.no_grad()
def check_generation(device, quick):
    batch, prompt, new = (4, 16, 16) if quick else (64, 256, 128)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = tiny_llama(8192, 128 if quick else 1024, 2 if quick else 8, device, dtype).eval()
    ids = torch.randint(3, 8192, (batch, prompt), device=device)

    def run():
        return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                              min_new_tokens=new, do_sample=False, pad_token_id=0)

    _reset_peak(device)
    seconds, out = _timed(run, device, repeats=2)
    return {"batch": batch, "prompt_tokens": prompt, "new_tokens": new, "seconds": round(seconds, 4),
            "new_tokens_per_s": round(batch * new / seconds, 1), "peak_gb": _peak_gb(device),
            "shape_ok": list(out.shape) == [batch, prompt + new]}


SPECIALS = ["<|begin_of_text|>", "<|eot_id|>", "<|pad|>", "<|start_header_id|>", "<|end_header_id|>"]


def judge_tokenizer(corpus: list[str]):
    """A byte-level BPE tokenizer trained on the spot (no download) with Llama Guard's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=2000, special_tokens=SPECIALS,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIALS[0], eos_token=SPECIALS[1],
                                   pad_token=SPECIALS[2])


def check_judge(device, quick):
    from transformers import LlamaConfig, LlamaForCausalLM

    from safealign.judges.llama_guard import TEMPLATE, LlamaGuardJudge

    rows, words = (8, 20) if quick else (64, 150)
    prompts = [f"question {i}: " + " ".join(["how do I keep my account safe"] * (words // 8)) for i in range(rows)]
    answers = [f"answer {i}: " + " ".join(["it is unsafe to share a password, keep it safe"] * (words // 10)) for i in range(rows)]
    tokenizer = judge_tokenizer([TEMPLATE, *prompts, *answers, "safe", "unsafe", "S1,S10"] * 4)
    tokenizer.chat_template = TEMPLATE
    hidden, layers = (64, 2) if quick else (1024, 8)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=4 * hidden,
                         num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                         num_key_value_heads=max(1, hidden // 128), max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    judge = LlamaGuardJudge(LlamaForCausalLM(config).to(device=device, dtype=dtype), tokenizer, name="tiny-llama-guard",
                            batch_size=rows)
    prompt_tokens = len(judge._encode(prompts[0], answers[0]))
    _reset_peak(device)
    seconds, verdicts = _timed(lambda: judge.judge(prompts, answers), device, repeats=2)
    return {"rows": rows, "tokens_per_row": prompt_tokens, "parameters": sum(p.numel() for p in judge.model.parameters()),
            "seconds": round(seconds, 4), "rows_per_s": round(rows / seconds, 1), "peak_gb": _peak_gb(device),
            "probabilities_ok": all(0.0 <= v.score <= 1.0 for v in verdicts) and len(verdicts) == rows}


def check_seed_layers(device, quick):
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

    if device.type != "cuda" and not quick:
        return {"skipped": "seed-size layers are measured on a GPU only"}
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokens = 8 * 1024 if device.type == "cuda" else 64
    out = {}
    for name, shape in SEED_SHAPES.items():
        hidden, heads, kv, layers = shape.hidden, shape.heads, shape.kv_heads, shape.layers
        # a Llama (SwiGLU) layer with the same MLP FLOPs as the model's own (Falcon's MLP has two matrices)
        inter = shape.intermediate * shape.mlp_matrices // 3
        if quick:
            hidden, inter, heads, kv = 128, 256, 2, 1
        config = LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_attention_heads=heads,
                             num_key_value_heads=kv, num_hidden_layers=1, max_position_embeddings=8192)
        config._attn_implementation = "sdpa"
        layer = LlamaDecoderLayer(config, layer_idx=0).to(device=device, dtype=dtype)
        rotary = LlamaRotaryEmbedding(config).to(device)
        x = torch.randn(1, tokens, hidden, device=device, dtype=dtype, requires_grad=True)
        positions = torch.arange(tokens, device=device)[None]

        def step():
            y = layer(x, position_embeddings=rotary(x, positions), position_ids=positions)
            y = y[0] if isinstance(y, tuple) else y
            y.float().pow(2).mean().backward()

        _reset_peak(device)
        seconds, _ = _timed(step, device, repeats=2)
        per_layer = sum(p.numel() for p in layer.parameters())
        out[name] = {"tokens": tokens, "layer_fwd_bwd_s": round(seconds, 5), "layer_parameters": per_layer,
                     "layers": layers, "model_fwd_bwd_s_estimate": round(seconds * layers, 3),
                     "layer_peak_gb": _peak_gb(device)}
        del layer, x
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a check of the script, not of a GPU)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    import transformers

    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "transformers": transformers.__version__, "quick": args.quick,
              "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
              "gpu_memory_gb": round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1) if device.type == "cuda" else None}
    for name, check in (("training", check_training), ("generation", check_generation), ("judge", check_judge),
                        ("seed_layers", check_seed_layers)):
        start = time.perf_counter()
        try:
            report[name] = check(device, args.quick)
        except Exception as err:  # report every check, even when one fails
            report[name] = {"error": f"{type(err).__name__}: {err}"}
        report[name]["wall_s"] = round(time.perf_counter() - start, 2)
        print(name, json.dumps(report[name]), flush=True)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
        os.replace(tmp, args.out)
    return report


if __name__ == "__main__":
    main()
