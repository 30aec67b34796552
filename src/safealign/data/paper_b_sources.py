"""Datasets paper B's studies add: CoCoNot's non-compliance prompts and the OpenAI moderation set.

    coconot_noncompliance   1,001 prompts a model should not fully comply with, by category
    openai_moderation       1,680 prompts with human labels for 8 content categories (None = not labelled)

(CoCoNot's contrast and preference sets are registered with the judges' label sources.) Registered in
the same `loaders.REGISTRY`, so `data.load(name)` reads them like every other dataset.
"""

from __future__ import annotations

from pathlib import Path

from .loaders import DataError, nonempty, read_jsonl, register, require

MODERATION_CATEGORIES = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")  # sexual, hate, violence, harassment,
# self-harm, sexual/minors, hate/threatening, violence/graphic (OpenAI's codes)


def _coconot(path: Path) -> list[dict]:
    rows = []
    for line, row in read_jsonl(path):
        require(path, line, row, ("id", "category", "subcategory", "prompt"))
        nonempty(path, line, prompt=row["prompt"])
        rows.append({k: row[k] for k in ("id", "category", "subcategory", "prompt")})
    return rows


def _normalise_coconot(row: dict) -> dict:
    return {k: row[k] for k in ("id", "category", "subcategory", "prompt")}


@register("coconot_noncompliance", files=("safety/coconot/coconot_eval.jsonl",),
          schema="id, category, subcategory, prompt", hub_id="allenai/coconot", hub_config="original",
          normalise_hub=_normalise_coconot)
def _read_coconot_noncompliance(files: list[Path]) -> list[dict]:
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
