"""Datasets paper B's studies add: CoCoNot and the OpenAI moderation set.

    coconot_noncompliance   1,001 prompts a model should not fully comply with, by category
    coconot_pref            927 benign look-alike prompts with a compliant and an over-refusing answer
    coconot_contrast        379 benign look-alike prompts a model should answer (over-refusal)
    openai_moderation       1,680 prompts with human labels for 8 content categories (None = not labelled)

Registered in the same `loaders.REGISTRY`, so `data.load(name)` reads them like every other dataset.
"""

from __future__ import annotations

from pathlib import Path

from .loaders import DataError, nonempty, read_jsonl, register, require

MODERATION_CATEGORIES = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")  # sexual, hate, violence, harassment,
# self-harm, sexual/minors, hate/threatening, violence/graphic (OpenAI's codes)


COCONOT_FIELDS = ("id", "category", "subcategory", "prompt")


def _coconot(path: Path, extra: tuple[str, ...] = ()) -> list[dict]:
    rows, fields = [], COCONOT_FIELDS + extra
    for line, row in read_jsonl(path):
        require(path, line, row, fields)
        nonempty(path, line, prompt=row["prompt"])
        rows.append({k: row[k] for k in fields})
    return rows


def _normalise_coconot(row: dict) -> dict:
    return {k: row[k] for k in COCONOT_FIELDS}


@register("coconot_noncompliance", files=("safety/coconot/coconot_eval.jsonl",),
          schema="id, category, subcategory, prompt", hub_id="allenai/coconot", hub_config="original",
          normalise_hub=_normalise_coconot)
def _read_coconot_noncompliance(files: list[Path]) -> list[dict]:
    return _coconot(files[0])


@register("coconot_pref", files=("safety/coconot/coconot_pref.jsonl",),
          schema="id, category, subcategory, prompt, chosen (compliant), rejected (over-refusal)")
def _read_coconot_pref(files: list[Path]) -> list[dict]:
    return _coconot(files[0], ("chosen", "rejected"))


@register("coconot_contrast", files=("safety/coconot/coconot_contrast_eval.jsonl",),
          schema="id, category, subcategory, prompt (benign look-alikes a model should answer)")
def _read_coconot_contrast(files: list[Path]) -> list[dict]:
    return _coconot(files[0])


def _moderation_row(path, line, row: dict) -> dict:
    out = {"prompt": row["prompt"]}
    for code in MODERATION_CATEGORIES:
        value = row.get(code)
        if value not in (None, 0, 1):
            raise DataError(f"{path}:{line}: label {code!r} is {value!r}, expected 0, 1 or absent")
        out[code] = value
    labels = [out[c] for c in MODERATION_CATEGORIES if out[c] is not None]
    if not labels:
        raise DataError(f"{path}:{line}: no category is labelled")
    out["any_harm"] = int(any(labels))
    return out


@register("openai_moderation", files=("safety/openai_moderation/samples-1680.jsonl.gz",),
          schema="prompt, S, H, V, HR, SH, S3, H2, V2 (1/0/None = not labelled), any_harm (1 if any category is 1)",
          hub_id="mmathys/openai-moderation-api-evaluation", hub_split="train",
          normalise_hub=lambda r: _moderation_row("hub", 0, r))
def _read_openai_moderation(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_jsonl(path):
        require(path, line, row, ("prompt",))
        nonempty(path, line, prompt=row["prompt"])
        rows.append(_moderation_row(path, line, row))
    return rows
