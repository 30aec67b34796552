"""Harm-type pools of paper B's data study (§3.1): labelled prompts with a safe target answer, split by prompt.

    pools = build_pools(candidates, excluded, test_per_type=100, seed=0)
    pools.rows["IHD"]["train"], pools.rows["IHD"]["test"]       # {prompt, answer, source, harm_type, evidence}
    pools.report                                                 # counts per type, source and split; what was dropped
    type_pool(settings, "EHD", "test")                           # a type's part as the type-pools stage saved it

A candidate is a labelled prompt (the harm-types stage's decision and evidence) with the safe answer its
source gives: PKU-SafeRLHF's safer response (the one its annotators marked safe) or HH-RLHF's chosen first
answer (the answer the crowd preferred as less harmful: not always a refusal). A prompt is dropped when it
is an evaluation prompt (ALERT, XSTest, CoCoNot, DecodingTrust, ...) or one the harm judge trained on,
because the pools' test prompts are scored by that judge and the pools' train prompts feed the mixtures.
Within each type the distinct prompts are split by one seeded permutation: the first `test_per_type` (at most
half the type's prompts, so a short type still trains on something) are test, the rest train. Prompts a policy
trains on (`train_only`: D_Safety's policy_train split, which every aligned model of both papers learns from) may
be pool train rows but never test rows: a test prompt the aligned model trained on, with its safe answer, would
flatter "aligned is safer than base" on that type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from .mixing import HARM_TYPES, fold
from ..profiles import Section, section


@section
class TypePoolSettings(Section):
    """profiles.yaml section `type_pools` (a wing section: stage type-pools reads it)."""
    test_per_type: int   # test prompts per harm type (at most half of the type's prompts)


@dataclass
class Pools:
    rows: dict[str, dict[str, list[dict]]]  # harm type -> "train" | "test" -> rows
    report: dict

    def test_prompts(self) -> list[str]:
        return [r["prompt"] for t in self.rows for r in self.rows[t]["test"]]


def candidates(labelled: Sequence[dict], answers: Mapping[str, str], source: str) -> list[dict]:
    """Labelled prompts of one source joined to that source's safe answer (prompts without one are left out)."""
    out = []
    for row in labelled:
        answer = answers.get(row["prompt"])
        if answer and answer.strip():
            out.append({"prompt": row["prompt"], "answer": answer, "source": source, "harm_type": row["harm_type"],
                        "evidence": row.get("evidence", "")})
    return out


def build_pools(rows: Iterable[dict], excluded: Mapping[str, Iterable[str]], test_per_type: int,
                seed: int = 0, train_only: Iterable[str] = ()) -> Pools:
    """Pools per harm type (IHD, EHD, MHD) from candidate rows; `excluded` maps a reason to its prompts, and
    prompts of `train_only` can be train rows but never test rows."""
    if test_per_type < 1:
        raise ValueError(f"type_pools.test_per_type must be >= 1, got {test_per_type}")
    train_only = {fold(p) for p in train_only}
    blocked = {}
    for reason, prompts in excluded.items():
        for p in prompts:
            blocked.setdefault(fold(p), reason)
    dropped: dict[str, int] = {}
    drop = lambda reason: dropped.__setitem__(reason, dropped.get(reason, 0) + 1)  # noqa: E731
    types_of: dict[str, set[str]] = {}
    kept: list[dict] = []
    for row in rows:
        for key in ("prompt", "answer", "source", "harm_type"):
            if not row.get(key):
                raise ValueError(f"pool candidate from {row.get('source', '?')!r}: missing or empty {key!r}")
        if row["harm_type"] not in HARM_TYPES:
            drop("benign")
            continue
        reason = blocked.get(fold(row["prompt"]))
        if reason:
            drop(reason)
            continue
        types_of.setdefault(fold(row["prompt"]), set()).add(row["harm_type"])
        kept.append(row)
    by_type: dict[str, dict[str, dict]] = {t: {} for t in HARM_TYPES}
    for row in kept:
        key = fold(row["prompt"])
        if len(types_of[key]) > 1:
            drop("labelled with two types by two sources")
        elif key in by_type[row["harm_type"]]:
            drop("duplicate prompt")
        else:
            by_type[row["harm_type"]][key] = row
    split: dict[str, dict[str, list[dict]]] = {}
    report: dict = {"test_per_type": test_per_type, "dropped": dropped, "types": {}}
    for i, kind in enumerate(HARM_TYPES):
        prompts = sorted(by_type[kind])  # a fixed order before the seeded permutation: same split on any machine
        order = np.random.default_rng(seed + i).permutation(len(prompts))
        eligible = [j for j in order if prompts[j] not in train_only]
        n_test = min(test_per_type, len(prompts) // 2, len(eligible))
        chosen = set(eligible[:n_test])
        test = [by_type[kind][prompts[j]] for j in eligible[:n_test]]
        train = [by_type[kind][prompts[j]] for j in order if j not in chosen]
        split[kind] = {"train": train, "test": test}
        report["types"][kind] = {
            "train": len(train), "test": len(test), "test_target": test_per_type,
            "test_short_by": max(0, test_per_type - len(test)), "train_only": len(prompts) - len(eligible),
            "by_source": {part: _by_source(rs) for part, rs in (("train", train), ("test", test))},
        }
    return Pools(split, report)


def type_pool(settings, harm_type: str, part: str) -> list[dict]:
    """A harm type's train or test pool from the type-pools stage."""
    from . import curation

    if part not in ("train", "test"):
        raise ValueError(f"type pool part {part!r}: choose train or test")
    rows = curation.load_version(settings.name, "type_pools", settings["data"]["version"])
    rows = [r for r in rows if r["harm_type"] == harm_type and r["part"] == part]
    if part == "test":
        pairs = curation.safety_pairs(settings)
        trained = {fold(p) for p, s in zip(pairs["prompt"], pairs["split"]) if s == "policy_train"}
        leaked = [r["prompt"] for r in rows if fold(r["prompt"]) in trained]
        if leaked:
            raise ValueError(f"{len(leaked)} {harm_type} test prompts of the saved type pools are policy_train prompts, "
                             f"which the aligned models train on (e.g. {leaked[0][:80]!r}): run the stage type-pools again")
    return rows


def _by_source(rows: Sequence[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["source"]] = out.get(r["source"], 0) + 1
    return dict(sorted(out.items()))


def pku_safe_answers(pairs: Iterable[dict]) -> dict[str, str]:
    """The first safer response per prompt of D_Safety (its `chosen` is the response marked safe)."""
    out: dict[str, str] = {}
    for row in pairs:
        out.setdefault(row["prompt"], row["chosen"])
    return out


def hh_chosen_answers(rows: Iterable[dict]) -> dict[str, str]:
    """HH-RLHF's chosen first assistant turn per first human turn."""
    out: dict[str, str] = {}
    for row in rows:
        messages = row["chosen_messages"]
        if len(messages) > 1 and messages[1]["role"] == "assistant":
            out.setdefault(row["prompt"], messages[1]["content"])
    return out


# the policy's evaluation sets (paper A's evaluation chapter, the over-refusal checks, CoCoNot): never in a pool
EVALUATION_SETS = ("alert", "alert_adversarial", "xstest_prompts", "coconot_contrast", "coconot_noncompliance",
                   "decodingtrust_toxicity")


def evaluation_prompts(names: Sequence[str] = EVALUATION_SETS) -> dict[str, list[str]]:
    """The prompts of each evaluation set (raw ALERT prompts too), by dataset name, as `data.load` reads them.

    """
    from .. import data
    from . import paper_b_sources  # noqa: F401  (registers the CoCoNot sets)

    out = {}
    for name in names:
        ds = data.load(name)
        prompts = list(ds["prompt"]) + (list(ds["raw_prompt"]) if "raw_prompt" in ds.column_names else [])
        out[f"evaluation set {name}"] = prompts
    return out
