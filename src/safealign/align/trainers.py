"""Trainer kinds: one row per TRL trainer the methods table may name (paper A: dpo, kto, orpo).

A kind says which config and trainer class it uses, which hyper-parameters of the profile its config
takes, and whether it needs a reference model. Paper B's kinds (token-masked DPO, APPO, ARS) register
themselves from their own files with `register_kind`, so adding one changes nothing here.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import datasets

from .. import io


@dataclass(frozen=True)
class TrainerKind:
    name: str
    loss_keys: tuple[str, ...]     # hyper-parameters (align.hyper / align.methods.<m>) its config takes
    uses_reference: bool
    make_config: Callable          # (loss_type, loss: dict, common: dict, max_length) -> TRL config
    make_trainer: Callable         # (config, model, ref_model, pairs, ref_cache, kwargs) -> TRL trainer


TRAINER_KINDS: dict[str, TrainerKind] = {}


def register_kind(kind: TrainerKind) -> TrainerKind:
    if kind.name in TRAINER_KINDS:
        raise ValueError(f"trainer kind {kind.name!r} is registered already")
    TRAINER_KINDS[kind.name] = kind
    return kind


def kind(name: str) -> TrainerKind:
    if name not in TRAINER_KINDS:
        raise KeyError(f"unknown trainer kind {name!r}; registered: {sorted(TRAINER_KINDS)}")
    return TRAINER_KINDS[name]


# TRL's training arguments every kind takes from profiles.yaml (align.hyper, align.methods.<name>)
TRAIN_KEYS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
              "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "max_grad_norm", "weight_decay")


def sharing_reference(trainer_class, cache_dir: Path | None):
    """`trainer_class` whose reference pass (TRL's own `_precompute_ref_logps`) is cached in `cache_dir`,
    keyed by the tokenized rows, the reference weights and max_length. TRL's own cache cannot be shared
    across methods: its key hashes the whole config, loss type included."""
    if cache_dir is None:
        return trainer_class

    class SharedReference(trainer_class):
        def _precompute_ref_logps(self, dataset, name, batch_size):
            token_columns = sorted(c for c in dataset.column_names if c.endswith("_ids") or c == "label")
            key = hashlib.sha256(json.dumps({
                "rows": dataset.select_columns(token_columns).to_dict(), "reference": self._precompute_model_hash,
                "max_length": self.args.max_length, "trainer": trainer_class.__name__,
            }, sort_keys=True).encode()).hexdigest()[:24]
            path = Path(cache_dir) / f"{trainer_class.__name__}-{key}.json"
            self.reference_pass = "reused" if path.exists() else "computed"
            if not path.exists():
                if self.accelerator.num_processes > 1 and not dataset.cache_files:
                    # TRL writes its pass beside the dataset's files, for an in-memory dataset in a temporary folder of
                    # each process's own, where the others cannot read it: back the rows by one file they all read
                    with self.accelerator.main_process_first():
                        dataset = dataset.flatten_indices(cache_file_name=str(Path(cache_dir) / f"rows-{key}.arrow"))
                out = super()._precompute_ref_logps(dataset, name, batch_size)  # every process: its gather is collective
                if self.accelerator.is_main_process:
                    io.write_json(path, out.select_columns([c for c in out.column_names if c.startswith("ref_")]).to_dict())
                self.accelerator.wait_for_everyone()
            # both branches read the file, so a first and a later run train on identical numbers
            return datasets.concatenate_datasets([dataset, datasets.Dataset.from_dict(io.read_json(path))], axis=1)

    SharedReference.__name__ = SharedReference.__qualname__ = trainer_class.__name__
    return SharedReference


def unpaired(pairs: datasets.Dataset, seed: int) -> datasets.Dataset:
    """KTO's form of D_Safety: one (prompt, completion, label) row per answer, safe answers labelled True.
    Shuffled, because KTOTrainer reads rows in order and would otherwise see one-label batches."""
    from trl.data_utils import unpair_preference_dataset

    return unpair_preference_dataset(pairs).shuffle(seed=seed).flatten_indices()


def _dpo_config(loss_type, loss, common, max_length):
    from trl import DPOConfig

    return DPOConfig(loss_type=[loss_type], **loss, **common)


def _dpo_trainer(config, model, ref_model, pairs, ref_cache, kwargs):
    from trl import DPOTrainer

    return sharing_reference(DPOTrainer, ref_cache)(ref_model=ref_model, train_dataset=pairs, **kwargs)


def _kto_config(loss_type, loss, common, max_length):
    from trl import KTOConfig

    return KTOConfig(loss_type=loss_type, **loss, **common)


def _kto_trainer(config, model, ref_model, pairs, ref_cache, kwargs):
    from trl import KTOTrainer

    return sharing_reference(KTOTrainer, ref_cache)(ref_model=ref_model, train_dataset=unpaired(pairs, config.seed),
                                                    **kwargs)


def _orpo_config(loss_type, loss, common, max_length):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental.*")
        from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(max_completion_length=max_length, remove_unused_columns=False, **loss, **common)


def _orpo_trainer(config, model, ref_model, pairs, ref_cache, kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental.*")
        from trl.experimental.orpo import ORPOTrainer

        return ORPOTrainer(train_dataset=pairs, **kwargs)


register_kind(TrainerKind("dpo", ("beta", "label_smoothing", "precompute_ref_log_probs"), True, _dpo_config, _dpo_trainer))
register_kind(TrainerKind("kto", ("beta", "desirable_weight", "undesirable_weight", "precompute_ref_log_probs"), True,
                          _kto_config, _kto_trainer))
register_kind(TrainerKind("orpo", ("beta",), False, _orpo_config, _orpo_trainer))  # ORPO is reference-free
