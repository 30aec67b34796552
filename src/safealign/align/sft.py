"""Supervised fine-tuning on a mixture (paper B's data study): TRL's `SFTTrainer`, loss on the answer only.

A mixture's chat rows (`data.mixing.build`) become TRL's conversational prompt-completion form, so
`SFTTrainer` computes the loss on the assistant turn alone (`completion_only_loss`). Registered as the
trainer kind "sft"; it takes no reference model.
"""

from __future__ import annotations

from typing import Sequence

import datasets

from .trainers import TrainerKind, register_kind


def sft_dataset(rows: Sequence[dict]) -> datasets.Dataset:
    """{"prompt": [user turn], "completion": [assistant turn]} per mixture row (chat rows of data.mixing)."""
    out = {"prompt": [], "completion": []}
    for i, row in enumerate(rows):
        messages = row["messages"]
        if len(messages) != 2 or messages[0]["role"] != "user" or messages[1]["role"] != "assistant":
            raise ValueError(f"mixture row {i}: expected one user turn then one assistant turn, got "
                             f"{[m['role'] for m in messages]}")
        out["prompt"].append([messages[0]])
        out["completion"].append([messages[1]])
    return datasets.Dataset.from_dict(out)


def _sft_config(loss_type, loss, common, max_length):
    from trl import SFTConfig

    return SFTConfig(completion_only_loss=True, **loss, **common)


def _sft_trainer(config, model, ref_model, rows, ref_cache, kwargs):
    from trl import SFTTrainer

    data = rows if isinstance(rows, datasets.Dataset) and "completion" in rows.column_names else sft_dataset(rows)
    return SFTTrainer(train_dataset=data, **kwargs)


SFT = register_kind(TrainerKind("sft", (), False, _sft_config, _sft_trainer))
