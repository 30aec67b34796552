"""D_Safety curation (paper A, Sec. "Dataset with the pairwise comparison"): {(x, y_safe, y_less_safe)}.

Filter rule (full PKU-SafeRLHF schema, `filter_full_schema`): keep a row iff exactly one of its two
responses is labelled safe (is_response_0_safe != is_response_1_safe) and `safer_response_id` names
that safe response; chosen = the safe response, rejected = the unsafe one. Rows with both responses
safe or both unsafe carry no safety preference; rows whose safer id contradicts the per-response
labels are inconsistent annotations. The shipped v0 pairs file was built with the same rule
("exactly one answer is safe", listed [safe, unsafe]).

Cleaning, in this order (each step counted in `Curated.stats`):
1. texts are stripped; a pair with an empty prompt/chosen/rejected, or chosen == rejected, is dropped;
2. exact duplicates of (prompt, chosen, rejected) are dropped (keys compare whitespace-collapsed,
   lower-cased text, the same normalisation `splits` uses for prompts);
3. label conflicts: a (prompt, response) labelled safe in one pair and unsafe in another has no
   trustworthy label. Every pair containing such a response is dropped from D_Safety, and the response
   gives no judge row. The conflicting texts and the pairs dropped are counted.

Each pair's split is `splits.split_of(prompt)`: a prompt lives in exactly one of policy_train /
judge_train / test, so the judge never learns from prompts the policy is aligned on.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import datasets

from .. import data, paths
from . import splits

PAPER_A_N = 47_077  # |D_Safety| in paper A, from the full hub PKU-SafeRLHF
FULL_SCHEMA_REASONS = ("kept", "both_safe", "both_unsafe", "safer_id_disagrees")


# ---------------------------------------------------------------------------------------------
# filter rule (full schema)


def full_row_reason(row: dict) -> str:
    """Why a full-schema row is kept or dropped (one of FULL_SCHEMA_REASONS)."""
    safe0, safe1 = row["is_response_0_safe"], row["is_response_1_safe"]
    if safe0 and safe1:
        return "both_safe"
    if not safe0 and not safe1:
        return "both_unsafe"
    return "kept" if row["safer_response_id"] == (0 if safe0 else 1) else "safer_id_disagrees"


def filter_full_schema(rows: Iterable[dict]) -> datasets.Dataset:
    """Full-schema rows (hub columns) -> pairs (prompt, safe_response, unsafe_response, source_line).

    `source_line` is the row's `source_line` if it has one, else its 1-based position in `rows`.
    A row missing a column or with a non-boolean safety label raises `data.DataError` naming the row.
    """
    out = []
    for position, row in enumerate(rows, start=1):
        where = row.get("source_line", position) if isinstance(row, dict) else position
        if not isinstance(row, dict):
            raise data.DataError(f"full-schema row {where}: expected a mapping, got {type(row).__name__}")
        missing = [c for c in data.PKU_FULL_COLUMNS if c not in row]
        if missing:
            raise data.DataError(f"full-schema row {where}: missing column(s) {missing}")
        if not all(isinstance(row[k], bool) for k in ("is_response_0_safe", "is_response_1_safe")):
            raise data.DataError(f"full-schema row {where}: is_response_0_safe / is_response_1_safe must be booleans")
        if full_row_reason(row) != "kept":
            continue
        safe = 0 if row["is_response_0_safe"] else 1
        out.append({"prompt": row["prompt"], "safe_response": row[f"response_{safe}"],
                    "unsafe_response": row[f"response_{1 - safe}"], "source_line": int(where)})
    return _from_rows(out, _PAIR_FEATURES)


_PAIR_FEATURES = datasets.Features({"prompt": datasets.Value("string"), "safe_response": datasets.Value("string"),
                                    "unsafe_response": datasets.Value("string"), "source_line": datasets.Value("int64")})


def read_full_schema_file(path: str | Path) -> list[dict]:
    """A local full-schema JSONL file, each line validated (errors name file:line)."""
    path = Path(path)
    rows = []
    for line, raw in data.read_jsonl(path):
        try:
            row = data._normalise_pku_full(raw)
        except (KeyError, ValueError) as err:
            raise data.DataError(f"{path}:{line}: {err}") from None
        rows.append({**row, "source_line": line})
    return rows


def raw_pairs(source: str | None = None) -> tuple[datasets.Dataset, dict]:
    """Uncleaned safety pairs and where they came from.

    source=None: the shipped v0 pairs file. A local `.jsonl` file in the full schema, or a hub id
    (e.g. "PKU-Alignment/PKU-SafeRLHF", online only): the filter rule is applied here.
    A local `.json` array in the shipped [safe, unsafe] format is read as pairs.
    """
    if source is None:
        return data.load("pku_saferlhf_pairs"), {"source": "shipped v0 pairs", "filter": "exactly one safe (upstream)"}
    local = Path(source)
    if local.is_file() and local.suffix == ".json":
        return datasets.Dataset.from_list(data.REGISTRY["pku_saferlhf_pairs"].read([local])), {"source": str(local)}
    rows = read_full_schema_file(local) if local.is_file() else data.load_public("pku_saferlhf_full", source)
    reasons = Counter(full_row_reason(r) for r in rows)
    return filter_full_schema(rows), {"source": source, "full_rows": len(rows),
                                      "filter_reasons": {k: reasons.get(k, 0) for k in FULL_SCHEMA_REASONS}}


# ---------------------------------------------------------------------------------------------
# cleaning and splitting


def _key(text: str) -> str:
    return splits.normalise_prompt(text)


@dataclass
class Curated:
    pairs: datasets.Dataset  # prompt, chosen, rejected, split, source_line
    judge_rows: datasets.Dataset  # prompt, response, unsafe, split
    stats: dict
    conflicts: list[tuple[str, str]]  # (prompt, response) texts labelled both safe and unsafe


def curate(raw: datasets.Dataset, split_fractions: dict, seed: int) -> Curated:
    """Apply the cleaning steps of the module docstring to raw pairs and assign prompt-level splits."""
    stats: Counter = Counter(raw_pairs=len(raw))
    cleaned, seen = [], set()
    for row in raw:
        prompt, chosen, rejected = (row[k].strip() for k in ("prompt", "safe_response", "unsafe_response"))
        if not (prompt and chosen and rejected):
            stats["dropped_empty"] += 1
            continue
        if _key(chosen) == _key(rejected):
            stats["dropped_identical_responses"] += 1
            continue
        key = (_key(prompt), _key(chosen), _key(rejected))
        if key in seen:
            stats["dropped_duplicates"] += 1
            continue
        seen.add(key)
        cleaned.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "source_line": row["source_line"]})

    labels: dict[tuple[str, str], set[bool]] = {}
    texts: dict[tuple[str, str], tuple[str, str]] = {}
    for row in cleaned:
        for response, unsafe in ((row["chosen"], False), (row["rejected"], True)):
            key = (_key(row["prompt"]), _key(response))
            labels.setdefault(key, set()).add(unsafe)
            texts.setdefault(key, (row["prompt"], response))
    conflicts = {k for k, v in labels.items() if len(v) == 2}

    pairs = []
    for row in cleaned:
        p = _key(row["prompt"])
        if (p, _key(row["chosen"])) in conflicts or (p, _key(row["rejected"])) in conflicts:
            stats["dropped_label_conflict_pairs"] += 1
            continue
        pairs.append({**row, "split": splits.split_of(row["prompt"], split_fractions, seed)})
    judge = [{"prompt": texts[k][0], "response": texts[k][1], "unsafe": next(iter(v)),
              "split": splits.split_of(texts[k][0], split_fractions, seed)}
             for k, v in labels.items() if k not in conflicts]

    stats.update(cleaned_pairs=len(cleaned), distinct_prompt_responses=len(labels),
                 label_conflict_texts=len(conflicts), pairs_total=len(pairs), judge_rows_total=len(judge))
    features = datasets.Features({"prompt": datasets.Value("string"), "chosen": datasets.Value("string"),
                                  "rejected": datasets.Value("string"), "source_line": datasets.Value("int64"),
                                  "split": datasets.Value("string")})
    judge_features = datasets.Features({"prompt": datasets.Value("string"), "response": datasets.Value("string"),
                                        "unsafe": datasets.Value("bool"), "split": datasets.Value("string")})
    return Curated(_from_rows(pairs, features), _from_rows(judge, judge_features), dict(stats),
                   sorted(texts[k] for k in conflicts))


def _from_rows(rows: list[dict], features: datasets.Features) -> datasets.Dataset:
    return datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)


def _data_settings(settings: dict) -> tuple[str | None, str, int]:
    return settings.data.source, json.dumps(settings.splits.to_dict(), sort_keys=True), settings["seed"]


@lru_cache(maxsize=4)
def _curated(source: str | None, fractions_json: str, seed: int) -> Curated:
    raw, provenance = raw_pairs(source)
    result = curate(raw, json.loads(fractions_json), seed)
    result.stats["provenance"] = provenance
    return result


def curated(settings: dict) -> Curated:
    """D_Safety and judge rows for a profile's settings (data.source, splits, seed); cached per process."""
    return _curated(*_data_settings(settings))


# ---------------------------------------------------------------------------------------------
# the API other notebooks use


def safety_pairs(settings: dict) -> datasets.Dataset:
    """The full curated D_Safety: prompt, chosen (safe), rejected (unsafe), split, source_line."""
    return curated(settings).pairs


def preference_split(settings: dict, split: str) -> datasets.Dataset:
    """One split of D_Safety in TRL's conversational format (prompt/chosen/rejected as message lists)."""
    _check_split(split)
    pairs = safety_pairs(settings)
    return data.chat_pairs(pairs.select([i for i, s in enumerate(pairs["split"]) if s == split]))


def judge_rows(settings: dict, split: str) -> datasets.Dataset:
    """Per-response labelled rows (prompt, response, unsafe: bool) of `split`, label conflicts removed.

    'policy_train' is refused: a safety judge must never see the prompts the policy is aligned on.
    """
    _check_split(split)
    if split == "policy_train":
        raise ValueError("judge_rows: split 'policy_train' holds the policy's alignment prompts; a safety judge "
                         "must not use them (use 'judge_train' to train, 'test' to validate)")
    rows = curated(settings).judge_rows
    return rows.select([i for i, s in enumerate(rows["split"]) if s == split]).remove_columns("split")


def _check_split(split: str) -> None:
    if split not in splits.SPLITS:
        raise ValueError(f"split must be one of {splits.SPLITS}, got {split!r}")


def prompt_overlap(ds: datasets.Dataset) -> dict[str, int]:
    """Distinct (normalised) prompts shared by each pair of splits; all must be 0."""
    by_split: dict[str, set[str]] = {s: set() for s in splits.SPLITS}
    for prompt, split in zip(ds["prompt"], ds["split"]):
        by_split[split].add(_key(prompt))
    names = list(splits.SPLITS)
    return {f"{a}&{b}": len(by_split[a] & by_split[b]) for i, a in enumerate(names) for b in names[i + 1:]}


# ---------------------------------------------------------------------------------------------
# general-domain pool, evaluation prompt sets, saved versions


def _chat(prompt: str, response: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def general_pool(lima_rows: int | None = None, gsm8k_rows: int | None = None, seed: int = 0) -> datasets.Dataset:
    """LIMA + GSM8K train in chat format: source, prompt, response, messages (None = every row)."""
    def take(ds: datasets.Dataset, n: int | None) -> datasets.Dataset:
        return ds if n is None or n >= len(ds) else ds.shuffle(seed=seed).select(range(n))

    lima = take(data.load("lima"), lima_rows)
    gsm = take(data.load("gsm8k", split="train"), gsm8k_rows)
    rows = [{"source": "lima", "prompt": r["prompt"], "response": r["response"]} for r in lima]
    rows += [{"source": "gsm8k", "prompt": r["question"], "response": r["answer"]} for r in gsm]
    return datasets.Dataset.from_list([{**r, "messages": _chat(r["prompt"], r["response"])} for r in rows])


def fingerprint(ds: datasets.Dataset) -> str:
    """sha256 of the rows as canonical JSON: the same data gives the same fingerprint on any machine."""
    digest = hashlib.sha256()
    for row in ds:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def save_version(ds: datasets.Dataset, profile: str, name: str, version: str) -> dict:
    """save_to_disk under runs/<profile>/data/<name>/v<version>; returns the record data.json keeps."""
    target = paths.run_dir(profile, "data", name) / f"v{version}"
    ds.save_to_disk(str(target))
    return {"name": name, "version": version, "path": str(target.relative_to(paths.runs_dir())), "rows": len(ds),
            "columns": ds.column_names, "sha256": fingerprint(ds)}


def load_version(profile: str, name: str, version: str) -> datasets.Dataset:
    """A dataset the data stage saved (e.g. 'general_pool', 'harm_types', 'eval_prompts/alert')."""
    target = paths.runs_dir() / profile / "data" / name / f"v{version}"
    if not target.exists():
        raise FileNotFoundError(f"{target} does not exist: run the data stage "
                                f"(python -m safealign.pipeline --profile {profile} --only data)")
    return datasets.load_from_disk(str(target))
