"""A cost model of the book's stages: FLOPs, memory and time, at any model size (issue: the gpu profile).

    shape = SEED_SHAPES["Qwen2-7B"]
    flops = align_flops(shape, tokens=28_000 * 2 * 512, lora=False, reference="precomputed")
    hours = flops / (8 * H200_BF16_PEAK_FLOPS * ASSUMED_GPU_TRAIN_UTILISATION) / 3600
    training_memory_gb(shape, lora=False, gpus=8)   # weights + gradients + AdamW state per GPU, ZeRO-3

FLOPs are the standard dense-transformer counts (Kaplan et al. 2020; Chinchilla's 6N): a training token
costs 6N (forward 2N, backward 4N), 4N with LoRA (the frozen weights need no weight gradients), a
reference-model token 2N, a prefill or judged token 2N, a generated token 2N plus attention over the
context. Memory: bf16 weights 2 bytes/parameter; a full fine-tune with AdamW in mixed precision holds
16 bytes/parameter (bf16 weights and gradients, fp32 master weights and two moments), split over the
GPUs by ZeRO-3; activations per micro-batch after Korthikanti et al. 2022 (`activation_memory_gb`); the
KV cache of generation is 2 · layers · kv heads · head width · context per sequence (`kv_cache_gb`).
Time = FLOPs / (peak × utilisation). The utilisation is not guessed for the CPU: it is fitted on this
repository's measured alignment runs (`calibrate`) and generation calls (`calibrate_generation`, from
the answer cache's recorded seconds), and each fit is checked against the other runs (`check`,
`check_generation`); GPU utilisation is a stated assumption until `scripts/gpu_check.py` has run on one.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True)
class Shape:
    name: str
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    layers: int
    vocab: int
    tied_embeddings: bool = False
    mlp_matrices: int = 3  # SwiGLU (gate, up, down); Falcon's MLP has two (up, down)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def layer_params(self) -> int:
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * self.kv_heads * self.head_dim
        mlp = self.mlp_matrices * self.hidden * self.intermediate
        return attention + mlp + 2 * self.hidden

    def params(self) -> int:
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * self.layer_params() + embeddings + self.hidden


# from each model's published config.json (hidden, intermediate, heads, kv heads, layers, vocab)
SEED_SHAPES = {
    "Qwen2-7B": Shape("Qwen2-7B", 3584, 18944, 28, 4, 28, 152064),
    "Falcon-11B": Shape("Falcon-11B", 4096, 16384, 32, 8, 60, 65024, mlp_matrices=2),
    "Llama-Guard-3-8B": Shape("Llama-Guard-3-8B", 4096, 14336, 32, 8, 32, 128256),
}

CPU_PEAK_FLOPS = 290e9          # fp32 matmul peak of this machine's 2 cores (measured, see README)
H200_BF16_PEAK_FLOPS = 989e12   # dense bf16 (NVIDIA H200 datasheet)
H200_HBM_BYTES_PER_S = 4.8e12
ASSUMED_GPU_TRAIN_UTILISATION = 0.35   # typical of ZeRO-3 7B DPO runs; replaced by a measurement when one exists


def shape_of(config) -> Shape:
    """The Shape of a transformers config (Llama-style names)."""
    return Shape(getattr(config, "name_or_path", "") or config.model_type, config.hidden_size, config.intermediate_size,
                 config.num_attention_heads, getattr(config, "num_key_value_heads", config.num_attention_heads),
                 config.num_hidden_layers, config.vocab_size, bool(getattr(config, "tie_word_embeddings", False)))


def train_flops_per_token(shape: Shape, lora: bool) -> float:
    return (4 if lora else 6) * shape.params()


def align_flops(shape: Shape, tokens: float, lora: bool, reference: str) -> float:
    """Training FLOPs of `tokens` policy tokens; `reference`: 'per step' (a reference forward per step),
    'precomputed' (one pass before training, counted here too) or 'none' (ORPO) or 'reused' (cached)."""
    flops = train_flops_per_token(shape, lora) * tokens
    if reference in ("per step", "precomputed", "computed"):
        flops += 2 * shape.params() * tokens
    return flops


def generation_flops(shape: Shape, prompts: int, prompt_tokens: float, new_tokens: float) -> float:
    """Prefill plus decoding, with attention over the growing context (2 · layers · context · kv width · 2)."""
    n = shape.params()
    context = prompt_tokens + new_tokens / 2
    attention = 4 * shape.layers * context * shape.hidden
    return prompts * (2 * n * prompt_tokens + (2 * n + attention) * new_tokens)


def training_memory_gb(shape: Shape, lora: bool, gpus: int = 1, zero3: bool = True, reference_in_memory: bool = False,
                       lora_fraction: float = 0.01) -> float:
    """Weights, gradients and optimiser state per GPU (activations excluded: they depend on batch and
    checkpointing). LoRA: frozen bf16 weights plus 16 bytes per adapter parameter."""
    n = shape.params()
    if lora:
        total = 2 * n + 16 * lora_fraction * n
    else:
        total = 16 * n
    if reference_in_memory:
        total += 2 * n
    shard = gpus if zero3 else 1
    return total / shard / 2**30


def activation_memory_gb(shape: Shape, micro_batch: int, seq: int, checkpointing: bool, flash: bool = True) -> float:
    """Activations one GPU holds for the backward pass of a micro-batch (bf16, no tensor or sequence
    parallelism; Korthikanti et al. 2022, eq. 1): s·b·h·(34 + 5·a·s/h) bytes per layer, the 5·a·s/h term
    (the attention score matrices) gone with a fused attention kernel (`flash`). With full activation
    checkpointing only each layer's input (2·s·b·h bytes) is kept, plus one layer's activations while it is
    recomputed. The logits (s·b·vocab, fp32 for the loss) come on top."""
    per_layer = seq * micro_batch * shape.hidden * (34 + (0 if flash else 5 * shape.heads * seq / shape.hidden))
    stored = shape.layers * 2 * seq * micro_batch * shape.hidden + per_layer if checkpointing else shape.layers * per_layer
    logits = 4 * seq * micro_batch * shape.vocab
    return (stored + logits) / 2**30


def kv_cache_gb(shape: Shape, sequences: int, context_tokens: float, bytes_per_value: int = 2) -> float:
    """Keys and values of `sequences` sequences of `context_tokens` tokens (bf16 by default)."""
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * context_tokens * sequences * bytes_per_value / 2**30


def decode_seconds_per_step(shape: Shape, bytes_per_s: float = H200_HBM_BYTES_PER_S) -> float:
    """A decoding step is memory-bound at small batch: every bf16 weight is read once."""
    return 2 * shape.params() / bytes_per_s


# ---------------------------------------------------------------------------------------------
# calibration on this machine's measured runs


def measured_utilisation(result: dict, shape: Shape, peak: float = CPU_PEAK_FLOPS) -> float:
    """Achieved FLOP/s over peak of one alignment run (book/results/<profile>/align/<m>.json)."""
    lora = bool(result.get("lora"))
    flops = align_flops(shape, result["tokens_seen"], lora, result.get("reference_pass", "none"))
    return flops / result["wall_s"] / peak


def calibrate(results: dict[str, dict], shape: Shape, fit_on: list[str], peak: float = CPU_PEAK_FLOPS) -> float:
    """Median utilisation of the runs named in `fit_on`."""
    return median(measured_utilisation(results[m], shape, peak) for m in fit_on)


@dataclass(frozen=True)
class GenerationCall:
    """One recorded batched generation call: its batches as (sequences, padded prompt tokens, decoding steps)."""
    label: str
    batches: tuple[tuple[int, int, int], ...]
    seconds: float

    @property
    def sequences(self) -> int:
        return sum(b[0] for b in self.batches)


def generation_batches(prompt_tokens: list[int], answer_tokens: list[int], batch_size: int, max_new_tokens: int,
                       sequences_per_prompt: int = 1) -> tuple[tuple[int, int, int], ...]:
    """The batches `generate.hf.generate` ran, given its prompts in its batch order (sorted by length): each
    batch pads its prompts to the longest and decodes until its longest answer ends (answer tokens + the
    end token, at most max_new_tokens), every sequence of the batch computed at every step."""
    if len(prompt_tokens) * sequences_per_prompt != len(answer_tokens):
        raise ValueError("generation_batches: one answer length per prompt and sequence")
    batches = []
    for start in range(0, len(prompt_tokens), batch_size):
        prompts = prompt_tokens[start:start + batch_size]
        answers = answer_tokens[start * sequences_per_prompt:(start + len(prompts)) * sequences_per_prompt]
        steps = min(max_new_tokens, max(a + 1 for a in answers))
        batches.append((len(prompts) * sequences_per_prompt, max(prompts), steps))
    return tuple(batches)


def batched_generation_flops(shape: Shape, batches) -> float:
    """FLOPs of padded batched generation: every sequence of a batch at the batch's prompt length and steps."""
    return sum(generation_flops(shape, rows, prompt, steps) for rows, prompt, steps in batches)


def calibrate_generation(calls: list[GenerationCall], shape: Shape, fit_on: int = 0, peak: float = CPU_PEAK_FLOPS) -> float:
    """Achieved FLOP/s over peak of the generation call `calls[fit_on]`."""
    call = calls[fit_on]
    return batched_generation_flops(shape, call.batches) / call.seconds / peak


def check_generation(calls: list[GenerationCall], shape: Shape, utilisation: float, peak: float = CPU_PEAK_FLOPS) -> list[dict]:
    """Predicted against measured seconds for every recorded generation call."""
    rows = []
    for call in calls:
        predicted = batched_generation_flops(shape, call.batches) / (peak * utilisation)
        rows.append({"call": call.label, "sequences": call.sequences, "batches": len(call.batches),
                     "decoding steps": sum(b[2] for b in call.batches), "measured_s": round(call.seconds, 1),
                     "predicted_s": round(predicted, 1), "predicted / measured": round(predicted / call.seconds, 2)})
    return rows


def check(results: dict[str, dict], shape: Shape, utilisation: float, peak: float = CPU_PEAK_FLOPS) -> list[dict]:
    """Predicted against measured training time for every run."""
    rows = []
    for name, r in results.items():
        flops = align_flops(shape, r["tokens_seen"], bool(r.get("lora")), r.get("reference_pass", "none"))
        predicted = flops / (peak * utilisation)
        rows.append({"method": name, "tokens": r["tokens_seen"], "reference": r.get("reference_pass"),
                     "measured_s": r["wall_s"], "predicted_s": round(predicted, 1),
                     "predicted / measured": round(predicted / r["wall_s"], 2)})
    return rows
