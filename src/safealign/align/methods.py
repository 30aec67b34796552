"""Paper A's eleven Safe-* methods (Table 1): a table naming each method's TRL trainer kind and loss.

Paper B's methods register from their own files with `register_method` (and a new trainer kind with
`trainers.register_kind`), so adding one leaves paper A's rows, and its stages' fingerprints, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Method:
    name: str  # registry key; pipeline stage "align-<name>"
    label: str  # paper A's name
    trainer: str  # a trainer kind (trainers.TRAINER_KINDS): "dpo" | "kto" | "orpo"
    loss_type: str  # TRL's name for the loss
    source: str  # the loss's original paper (paper A, Table 1)


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("dpo", "Safe-DPO", "dpo", "sigmoid", "Rafailov et al. 2023, arXiv 2305.18290"),
    Method("rdpo", "Safe-rDPO", "dpo", "robust", "Chowdhury et al. 2024, arXiv 2403.00409"),
    Method("ipo", "Safe-IPO", "dpo", "ipo", "Azar et al. 2024, arXiv 2310.12036"),
    Method("slic", "Safe-SLiC", "dpo", "hinge", "Zhao et al. 2023, arXiv 2210.00045"),
    Method("exo", "Safe-EXO", "dpo", "exo_pair", "Ji et al. 2024, arXiv 2402.00856"),
    Method("nca", "Safe-NCA", "dpo", "nca_pair", "Chen et al. 2024, arXiv 2402.05369"),
    Method("sppo", "Safe-SPPO", "dpo", "sppo_hard", "Wu et al. 2024, arXiv 2405.00675"),
    Method("aot", "Safe-AOT", "dpo", "aot", "Melnyk et al. 2024, arXiv 2406.05882 (paired)"),
    Method("aotp", "Safe-AOTp", "dpo", "aot_unpaired", "Melnyk et al. 2024, arXiv 2406.05882 (unpaired)"),
    Method("kto", "Safe-KTO", "kto", "kto", "Ethayarajh et al. 2024, arXiv 2402.01306"),
    Method("orpo", "Safe-ORPO", "orpo", "orpo", "Hong et al. 2024, arXiv 2403.07691"),
]}

def method(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown alignment method {name!r} (parameter `method`); choose one of {list(METHODS)}")
    return METHODS[name]


def hyperparameters(settings: dict, name: str) -> dict[str, Any]:
    """The shared recipe (align.hyper) overridden by the method's own entries (align.methods.<name>)."""
    cfg = settings.align
    hyper = cfg.hyper.to_dict()
    overrides = cfg.methods.get(method(name).name)
    hyper.update(overrides.given() if overrides else {})
    return hyper


def register_method(m: Method) -> Method:
    if m.name in METHODS:
        raise ValueError(f"alignment method {m.name!r} is registered already")
    METHODS[m.name] = m
    return m
