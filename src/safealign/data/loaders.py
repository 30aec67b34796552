"""Data layer: one loader per dataset, returning `datasets.Dataset` with a documented schema.

Offline, every loader reads the shipped copy under `paths.data_dir()` and checks its sha256 against
MANIFEST.json. With `source=` a hub id (e.g. "PKU-Alignment/PKU-SafeRLHF", "Babelscape/ALERT") or a
local file/folder, the same loader reads the full public dataset through `datasets.load_dataset` and
normalises it to the same schema, so notebooks never care where rows came from.

Malformed rows raise `DataError` naming the file and line.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import datasets

from .. import io, paths

MANIFEST_NAME = "MANIFEST.json"


class DataError(ValueError):
    """A data file is missing, altered or malformed; the message names the file (and line)."""


# ---------------------------------------------------------------------------------------------
# files, hashes, raw readers


@lru_cache(maxsize=None)
def _manifest(data_dir: Path) -> dict[str, dict]:
    path = data_dir / MANIFEST_NAME
    if not path.exists():
        raise DataError(
            f"{path} not found: set SAFEALIGN_DATA_DIR to the folder holding the shipped data "
            f"(default ../shared/data next to the checkout)"
        )
    return {entry["file"]: entry for entry in io.read_json(path)}


_verified: dict[tuple[str, int, float], str] = {}


def shipped_file(relpath: str, data_dir: Path | None = None, verify: bool = True) -> Path:
    """Absolute path of a shipped file, after checking it exists and matches MANIFEST's sha256."""
    data_dir = Path(data_dir or paths.data_dir())
    path = data_dir / relpath
    if not path.exists():
        raise DataError(f"{path}: file not found (data dir {data_dir}; set SAFEALIGN_DATA_DIR)")
    if verify:
        entry = _manifest(data_dir).get(relpath)
        if entry is None:
            raise DataError(f"{path}: not listed in {data_dir / MANIFEST_NAME}; refusing an unknown file")
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime)
        if key not in _verified:
            _verified[key] = io.sha256_file(path)
        if _verified[key] != entry["sha256"]:
            raise DataError(
                f"{path}: sha256 {_verified[key]} does not match MANIFEST.json ({entry['sha256']}); "
                f"the copy is altered or truncated"
            )
    return path


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object) for each non-blank line; a bad line raises DataError."""
    with _open_text(path) as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{line_no}: invalid JSON ({err.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}")
            yield line_no, obj


def read_json_array(path: Path) -> list[tuple[int, Any]]:
    """Items of a top-level JSON array with the line each item starts on (for error messages)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}:1: expected a JSON array")
    # Locate where each top-level item starts, to name lines in later errors.
    decoder, starts, pos = json.JSONDecoder(), [], text.index("[") + 1
    line, counted = 1, 0
    for _ in data:
        while text[pos] in " \t\r\n,":
            pos += 1
        line += text.count("\n", counted, pos)
        counted = pos
        starts.append(line)
        _, pos = decoder.raw_decode(text, pos)
    return list(zip(starts, data))


def read_csv(path: Path, delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    with _open_text(path) as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"{path}:{reader.line_num}: wrong number of fields for header {reader.fieldnames}")
            yield reader.line_num, row


def require(path: Path, line: int, row: dict, keys: Iterable[str], kind: type | tuple = str) -> None:
    for key in keys:
        if key not in row:
            raise DataError(f"{path}:{line}: missing field {key!r}")
        if not isinstance(row[key], kind):
            raise DataError(f"{path}:{line}: field {key!r} should be {kind}, got {type(row[key]).__name__}")


def nonempty(path: Path, line: int, **texts: str) -> None:
    for key, value in texts.items():
        if not value or not value.strip():
            raise DataError(f"{path}:{line}: field {key!r} is empty")


# ---------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class Spec:
    """How to read one dataset offline and how to read the full public version."""

    files: tuple[str, ...]
    read: Callable[..., list[dict]]  # read(paths, **options) -> rows in the documented schema
    schema: str  # one line describing the columns
    hub_id: str | None = None
    hub_config: str | None = None
    hub_split: str = "test"
    normalise_hub: Callable[[dict], dict] | None = None  # hub row -> schema row
    options: dict = field(default_factory=dict)


REGISTRY: dict[str, Spec] = {}


def register(name: str, **kwargs) -> Callable:
    def wrap(read: Callable) -> Callable:
        REGISTRY[name] = Spec(read=read, **kwargs)
        return read

    return wrap


def names() -> list[str]:
    return sorted(REGISTRY)


def load(name: str, source: str | None = None, data_dir: str | Path | None = None, **options) -> datasets.Dataset:
    """Load dataset `name` (see `names()`).

    source=None reads the shipped, hash-checked copy; a hub id or a local path reads the full
    public dataset with `datasets.load_dataset` and maps it to the same schema.
    """
    if name not in REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known: {names()}")
    spec = REGISTRY[name]
    if source is None:
        files = [shipped_file(f, Path(data_dir) if data_dir else None) for f in spec.files]
        rows = spec.read(files, **{**spec.options, **options})
    else:
        rows = load_public(name, source, **options)
    if not rows:
        raise DataError(f"dataset {name!r} from {source or spec.files}: no rows")
    return datasets.Dataset.from_list(rows)


def load_public(name: str, source: str, split: str | None = None, **_ignored) -> list[dict]:
    """The full dataset by hub id or local path, normalised with the dataset's hub mapping."""
    spec = REGISTRY[name]
    if spec.normalise_hub is None:
        raise DataError(f"dataset {name!r} has no public-source mapping; use the shipped copy")
    local = Path(source)
    if local.exists():
        files = sorted(local.rglob("*.json*")) if local.is_dir() else [local]
        kind = "json" if files[0].suffix in (".json", ".jsonl") or files[0].name.endswith(".jsonl.gz") else "csv"
        raw = datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train")
    else:
        raw = datasets.load_dataset(source, spec.hub_config, split=split or spec.hub_split)
    rows = []
    for i, row in enumerate(raw):
        try:
            rows.append(spec.normalise_hub(row))
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{source}: row {i}: cannot map to {name!r} schema ({err})") from None
    return rows


# ---------------------------------------------------------------------------------------------
# safety data


@register(
    "pku_saferlhf_pairs",
    files=("safety/pku_saferlhf/v0_test_safe_vs_unsafe_5k.json",),
    schema="prompt, safe_response, unsafe_response, source_line",
)
def _read_pku_pairs(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, item in read_json_array(path):
        if not isinstance(item, dict):
            raise DataError(f"{path}:{line}: expected an object")
        prompt = item.get("prompt", item.get("instruction"))
        response = item.get("response", item.get("output"))
        if not isinstance(prompt, str):
            raise DataError(f"{path}:{line}: missing or non-text 'prompt'")
        if not (isinstance(response, list) and len(response) == 2 and all(isinstance(r, str) for r in response)):
            raise DataError(f"{path}:{line}: 'response' must be a list [safe, unsafe] of two strings")
        rows.append({"prompt": prompt, "safe_response": response[0], "unsafe_response": response[1], "source_line": line})
    return rows


PKU_FULL_COLUMNS = (
    "prompt", "response_0", "response_1", "is_response_0_safe", "is_response_1_safe",
    "better_response_id", "safer_response_id",
)


def _normalise_pku_full(row: dict) -> dict:
    out = {key: row[key] for key in PKU_FULL_COLUMNS}
    for key in ("is_response_0_safe", "is_response_1_safe"):
        if not isinstance(out[key], bool):
            raise ValueError(f"{key} must be boolean")
    for key in ("better_response_id", "safer_response_id"):
        if out[key] not in (0, 1):
            raise ValueError(f"{key} must be 0 or 1")
    for key in ("response_0_severity_level", "response_1_severity_level"):
        out[key] = row.get(key)
    for key in ("response_0_harm_category", "response_1_harm_category"):
        value = row.get(key) or {}
        out[key] = sorted(k for k, v in value.items() if v) if isinstance(value, dict) else list(value)
    return out


@register(
    "pku_saferlhf_full",
    files=("safety/pku_saferlhf/alpaca7b_test_full_schema_sample.jsonl",),
    schema="prompt, response_0/1, is_response_0/1_safe, better/safer_response_id, harm categories, severity",
    hub_id="PKU-Alignment/PKU-SafeRLHF",
    hub_split="train",
    normalise_hub=_normalise_pku_full,
)
def _read_pku_full(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_jsonl(path):
        try:
            rows.append(_normalise_pku_full(row))
        except (KeyError, ValueError) as err:
            raise DataError(f"{path}:{line}: {err}") from None
    return rows


def _strip_alert_wrapper(prompt: str) -> str:
    """ALERT wraps prompts as '### Instruction:\\n<text>\\n### Response:\\n'; keep the request only."""
    text = prompt.strip()
    if text.startswith("### Instruction:"):
        text = text[len("### Instruction:"):]
    if text.endswith("### Response:"):
        text = text[: -len("### Response:")]
    return text.strip()


def _normalise_alert(row: dict) -> dict:
    out = {"id": int(row["id"]), "category": str(row["category"]), "prompt": _strip_alert_wrapper(row["prompt"]),
           "raw_prompt": row["prompt"]}
    if "attack_type" in row and row["attack_type"] is not None:
        out["attack_type"] = str(row["attack_type"])
    if not out["prompt"]:
        raise ValueError("empty prompt after removing the '### Instruction:' wrapper")
    return out


def _read_alert(files: list[Path], adversarial: bool = False) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_jsonl(path):
        require(path, line, row, ["category", "prompt"] + (["attack_type"] if adversarial else []))
        try:
            rows.append(_normalise_alert(row))
        except (KeyError, ValueError) as err:
            raise DataError(f"{path}:{line}: {err}") from None
    return rows


register(
    "alert",
    files=("safety/alert/alert_sample.jsonl",),
    schema="id, category (32 fine), prompt (wrapper stripped), raw_prompt",
    hub_id="Babelscape/ALERT", hub_config="alert", normalise_hub=_normalise_alert,
)(_read_alert)
register(
    "alert_adversarial",
    files=("safety/alert/alert_adversarial_sample.jsonl",),
    schema="id, category, attack_type, prompt (wrapper stripped), raw_prompt",
    hub_id="Babelscape/ALERT", hub_config="alert_adversarial", normalise_hub=_normalise_alert,
    options={"adversarial": True},
)(_read_alert)

DT_SUBSETS = {
    "toxic": "safety/decodingtrust_toxicity/toxic.jsonl",
    "nontoxic": "safety/decodingtrust_toxicity/nontoxic.jsonl",
    "toxic_gpt3.5": "safety/decodingtrust_toxicity/toxic.gpt3.5.jsonl",
    "toxic_gpt4": "safety/decodingtrust_toxicity/toxic.gpt4.jsonl",
}


@register(
    "decodingtrust_toxicity",
    files=tuple(DT_SUBSETS.values()),
    schema="subset, prompt, prompt_toxicity (Perspective), continuation, continuation_toxicity (None for GPT-written)",
)
def _read_decodingtrust(files: list[Path]) -> list[dict]:
    rows = []
    for subset, path in zip(DT_SUBSETS, files):
        for line, row in read_jsonl(path):
            prompt = row.get("prompt")
            if not isinstance(prompt, dict) or not isinstance(prompt.get("text"), str):
                raise DataError(f"{path}:{line}: 'prompt' must be an object with a 'text'")
            scores = prompt.get("score", prompt)
            if not isinstance(scores.get("toxicity"), (int, float)):
                raise DataError(f"{path}:{line}: prompt has no numeric Perspective 'toxicity'")
            cont = row.get("continuation") or {}
            rows.append({
                "subset": subset, "prompt": prompt["text"], "prompt_toxicity": float(scores["toxicity"]),
                "continuation": cont.get("text"),
                "continuation_toxicity": float(cont["toxicity"]) if cont.get("toxicity") is not None else None,
            })
    return rows


def decodingtrust_system_prompts(data_dir: str | Path | None = None) -> dict[str, dict[str, str]]:
    """{"benign": {sys_prompt, task_desc}, "adversarial": {...}} (DecodingTrust templates 0 and 1)."""
    path = shipped_file("safety/decodingtrust_toxicity/system_prompts.json", Path(data_dir) if data_dir else None)
    data = io.read_json(path)
    out = {}
    for key in ("benign", "adversarial"):
        if not isinstance(data.get(key), dict) or not {"sys_prompt", "task_desc"} <= set(data[key]):
            raise DataError(f"{path}: entry {key!r} needs 'sys_prompt' and 'task_desc'")
        out[key] = {"sys_prompt": data[key]["sys_prompt"], "task_desc": data[key]["task_desc"]}
    return out


def _parse_hh_dialogue(text: str) -> list[dict]:
    """'\\n\\nHuman: ...\\n\\nAssistant: ...' -> chat messages."""
    messages = []
    for chunk in text.split("\n\nHuman: ")[1:]:
        human, *assistant = chunk.split("\n\nAssistant:")
        messages.append({"role": "user", "content": human.strip()})
        for reply in assistant:
            messages.append({"role": "assistant", "content": reply.strip()})
    return messages


@register(
    "hh_rlhf_harmless",
    files=("safety/hh_rlhf/harmless_base_test.jsonl.gz",),
    schema="prompt (first human turn), chosen, rejected (raw dialogues), chosen_messages, rejected_messages",
    hub_id="Anthropic/hh-rlhf",
)
def _read_hh(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_jsonl(path):
        require(path, line, row, ["chosen", "rejected"])
        chosen, rejected = _parse_hh_dialogue(row["chosen"]), _parse_hh_dialogue(row["rejected"])
        if not chosen or chosen[0]["role"] != "user":
            raise DataError(f"{path}:{line}: dialogue does not start with a 'Human:' turn")
        rows.append({"prompt": chosen[0]["content"], "chosen": row["chosen"], "rejected": row["rejected"],
                     "chosen_messages": chosen, "rejected_messages": rejected})
    return rows


@register(
    "xstest_prompts",
    files=("safety/xstest/xstest_prompts.csv",),
    schema="id, prompt, type, label (safe/unsafe), focus, note",
)
def _read_xstest_prompts(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_csv(path):
        if row["label"] not in ("safe", "unsafe"):
            raise DataError(f"{path}:{line}: label must be 'safe' or 'unsafe', got {row['label']!r}")
        nonempty(path, line, prompt=row["prompt"])
        rows.append({"id": int(row["id"]), "prompt": row["prompt"], "type": row["type"], "label": row["label"],
                     "focus": row["focus"], "note": row["note"]})
    return rows


XSTEST_MODELS = ("gpt4", "llama2new", "llama2orig", "mistralguard")
XSTEST_LABELS = ("full_compliance", "full_refusal", "partial_refusal")


@register(
    "xstest_completions",
    files=tuple(f"safety/xstest/xstest_v2_completions_{m}.csv" for m in XSTEST_MODELS),
    schema="model, id, type, prompt, prompt_label (unsafe for contrast_* types), completion, final_label (human: full_compliance/full_refusal/partial_refusal)",
)
def _read_xstest_completions(files: list[Path]) -> list[dict]:
    rows = []
    for model, path in zip(XSTEST_MODELS, files):
        for line, row in read_csv(path):
            label = row["final_label"].split("_", 1)[-1] if row["final_label"][:2] in ("1_", "2_", "3_") else row["final_label"]
            if label not in XSTEST_LABELS:
                raise DataError(f"{path}:{line}: final_label {row['final_label']!r} not in {XSTEST_LABELS}")
            rows.append({
                "model": model, "id": row["id"], "type": row["type"], "prompt": row["prompt"],
                "prompt_label": "unsafe" if row["type"].startswith("contrast_") else "safe",
                "completion": row["completion"], "final_label": label,
            })
    return rows


# ---------------------------------------------------------------------------------------------
# lexicons


@register(
    "hurtlex",
    files=("lexicons/hurtlex_EN_1.2.tsv",),
    schema="id, pos, category (17 HurtLex codes), stereotype, lemma, level",
)
def _read_hurtlex(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_csv(path, delimiter="\t"):
        nonempty(path, line, lemma=row["lemma"], category=row["category"])
        rows.append({k: row[k] for k in ("id", "pos", "category", "stereotype", "lemma", "level")})
    return rows


TOXIC_SPANS_SPLITS = {"train": "lexicons/toxic_spans/tsd_train.csv", "trial": "lexicons/toxic_spans/tsd_trial.csv",
                      "test": "lexicons/toxic_spans/tsd_test.csv"}


@register(
    "toxic_spans",
    files=tuple(TOXIC_SPANS_SPLITS.values()),
    schema="split, text, spans (character offsets of toxic characters)",
)
def _read_toxic_spans(files: list[Path], split: str | None = None) -> list[dict]:
    rows = []
    for name, path in zip(TOXIC_SPANS_SPLITS, files):
        if split and name != split:
            continue
        for line, row in read_csv(path):
            try:
                spans = json.loads(row["spans"])
            except json.JSONDecodeError:
                raise DataError(f"{path}:{line}: 'spans' is not a JSON list of offsets") from None
            if not isinstance(spans, list) or not all(isinstance(s, int) and 0 <= s < len(row["text"]) for s in spans):
                raise DataError(f"{path}:{line}: 'spans' must be character offsets inside the text")
            rows.append({"split": name, "text": row["text"], "spans": spans})
    return rows


# ---------------------------------------------------------------------------------------------
# general-domain data and capability benchmarks


@register("lima", files=("general/lima.json",), schema="prompt, response", hub_id="GAIR/lima", hub_split="train",
          normalise_hub=lambda r: {"prompt": r["conversations"][0], "response": r["conversations"][1]})
def _read_lima(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, item in read_json_array(path):
        if not isinstance(item, dict):
            raise DataError(f"{path}:{line}: expected an object")
        require(path, line, item, ["instruction", "output"])
        prompt = (item["instruction"] + ("\n\n" + item["input"] if item.get("input") else "")).strip()
        nonempty(path, line, instruction=prompt, output=item["output"])
        rows.append({"prompt": prompt, "response": item["output"]})
    return rows


def _gsm8k_final(answer: str) -> str:
    return answer.rsplit("####", 1)[-1].strip().replace(",", "")


@register("gsm8k", files=("general/gsm8k/train.jsonl", "general/gsm8k/test.jsonl"),
          schema="split, question, answer (worked solution), final (number after ####)",
          hub_id="openai/gsm8k", hub_config="main",
          normalise_hub=lambda r: {"split": "hub", "question": r["question"], "answer": r["answer"],
                                   "final": _gsm8k_final(r["answer"])})
def _read_gsm8k(files: list[Path], split: str | None = None) -> list[dict]:
    rows = []
    for name, path in zip(("train", "test"), files):
        if split and name != split:
            continue
        for line, row in read_jsonl(path):
            require(path, line, row, ["question", "answer"])
            if "####" not in row["answer"]:
                raise DataError(f"{path}:{line}: answer has no '#### <final>' line")
            rows.append({"split": name, "question": row["question"], "answer": row["answer"],
                         "final": _gsm8k_final(row["answer"])})
    return rows


def _mmlu_files() -> tuple[str, ...]:
    return tuple(sorted(e for e in _manifest(paths.data_dir()) if e.startswith("general/mmlu/")))


def _read_mmlu(files: list[Path], split: str = "test") -> list[dict]:
    rows = []
    for path in files:
        if path.parent.name != split:
            continue
        subject = path.stem.rsplit("_", 1)[0]
        with open(path, encoding="utf-8") as f:
            for line_no, fields in enumerate(csv.reader(f), start=1):
                if len(fields) != 6 or fields[5] not in "ABCD" or not fields[5]:
                    raise DataError(f"{path}:{line_no}: expected question, 4 choices and an answer letter A-D")
                rows.append({"subject": subject, "question": fields[0], "choices": fields[1:5],
                             "gold": "ABCD".index(fields[5])})
    return rows


def _lazy_register_mmlu() -> None:
    try:
        files = _mmlu_files()
    except DataError:
        files = ()
    REGISTRY["mmlu"] = Spec(files=files, read=_read_mmlu, schema="subject, question, choices[4], gold (index)",
                            hub_id="cais/mmlu", hub_config="all")


@register("mmlu_pro", files=("general/mmlu_pro/test.jsonl",),
          schema="question, choices[<=10], gold (index), category", hub_id="TIGER-Lab/MMLU-Pro",
          normalise_hub=lambda r: {"question": r["question"], "choices": r["options"], "gold": r["answer_index"],
                                   "category": r["category"]})
def _read_mmlu_pro(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_jsonl(path):
        require(path, line, row, ["question", "options"], (str, list))
        if not isinstance(row.get("answer_index"), int) or not 0 <= row["answer_index"] < len(row["options"]):
            raise DataError(f"{path}:{line}: answer_index out of range")
        rows.append({"question": row["question"], "choices": row["options"], "gold": row["answer_index"],
                     "category": row.get("category", "")})
    return rows


def _bbh_files() -> tuple[str, ...]:
    try:
        return tuple(sorted(e for e in _manifest(paths.data_dir()) if e.startswith("general/bbh/") and e.endswith(".json")))
    except DataError:
        return ()


def _read_bbh(files: list[Path]) -> list[dict]:
    rows = []
    for path in files:
        data = io.read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
            raise DataError(f"{path}: expected an object with an 'examples' list")
        for i, ex in enumerate(data["examples"]):
            if not isinstance(ex, dict) or not {"input", "target"} <= set(ex):
                raise DataError(f"{path}: example {i} needs 'input' and 'target'")
            rows.append({"task": path.stem, "input": ex["input"], "target": str(ex["target"])})
    return rows


@register("ifeval", files=("general/ifeval/ifeval.jsonl",), schema="id, prompt, instruction_id_list, kwargs (JSON text)")
def _read_ifeval(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_jsonl(path):
        require(path, line, row, ["prompt"])
        require(path, line, row, ["instruction_id_list", "kwargs"], list)
        rows.append({"id": row.get("id", row.get("key")), "prompt": row["prompt"],
                     "instruction_id_list": row["instruction_id_list"], "kwargs": json.dumps(row["kwargs"])})
    return rows


@register("gpqa_diamond", files=("general/gpqa/gpqa_diamond.csv",), schema="question, choices[4] (correct first), gold=0, domain")
def _read_gpqa(files: list[Path]) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_csv(path):
        nonempty(path, line, Question=row["Question"], **{"Correct Answer": row["Correct Answer"]})
        choices = [row["Correct Answer"]] + [row[f"Incorrect Answer {i}"] for i in (1, 2, 3)]
        rows.append({"question": row["Question"], "choices": [c.strip() for c in choices], "gold": 0,
                     "domain": row.get("High-level domain", "")})
    return rows


@register("math", files=("general/math/test_answers.jsonl",), schema="problem, level (int), subject, answer")
def _read_math(files: list[Path], level: int | None = None) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_jsonl(path):
        require(path, line, row, ["problem", "answer", "level"])
        try:
            lvl = int(str(row["level"]).replace("Level", "").strip())
        except ValueError:
            raise DataError(f"{path}:{line}: level {row['level']!r} is not 'Level N'") from None
        if level is None or lvl == level:
            rows.append({"problem": row["problem"], "level": lvl, "subject": row.get("subject", ""), "answer": row["answer"]})
    return rows


MC_TASKS = ("arc_challenge", "arc_easy", "boolq", "commonsense_qa", "piqa", "winogrande")


@register("mc", files=tuple(f"general/mc/{t}.jsonl" for t in MC_TASKS),
          schema="task, query, choices, gold (winogrande: the option is folded into the query per choice)")
def _read_mc(files: list[Path], task: str | None = None) -> list[dict]:
    rows = []
    for name, path in zip(MC_TASKS, files):
        if task and name != task:
            continue
        for line, row in read_jsonl(path):
            if "context_options" in row:  # winogrande: choose the context that makes the continuation likely
                require(path, line, row, ["context_options"], list)
                rows.append({"task": name, "query": row["continuation"], "choices": row["context_options"],
                             "gold": int(row["gold"])})
            else:
                require(path, line, row, ["query"])
                require(path, line, row, ["choices"], list)
                rows.append({"task": name, "query": row["query"], "choices": row["choices"], "gold": int(row["gold"])})
            if not 0 <= rows[-1]["gold"] < len(rows[-1]["choices"]):
                raise DataError(f"{path}:{line}: gold {rows[-1]['gold']} out of range")
    return rows


@register("hellaswag", files=("general/hellaswag/hellaswag_val_full.txt.bz2",), schema="context, endings[4], gold")
def _read_hellaswag(files: list[Path]) -> list[dict]:
    (path,) = files
    with _open_text(path) as f:
        lines = f.read().split("\n")
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) % 6:
        raise DataError(f"{path}:{len(lines)}: expected 6 lines per item (context, label, 4 endings)")
    rows = []
    for start in range(0, len(lines), 6):
        context, label, *endings = lines[start:start + 6]
        if label.strip() not in "0123" or not label.strip():
            raise DataError(f"{path}:{start + 2}: label {label!r} is not 0-3")
        rows.append({"context": context, "endings": endings, "gold": int(label)})
    return rows


REGISTRY["bbh"] = Spec(files=_bbh_files(), read=_read_bbh, schema="task, input, target")
_lazy_register_mmlu()


def chat_pairs(ds: datasets.Dataset, prompt: str = "prompt", chosen: str = "chosen", rejected: str = "rejected") -> datasets.Dataset:
    """Conversational preference format that TRL trainers take: prompt/chosen/rejected as message lists."""
    return ds.map(lambda r: {
        "prompt": [{"role": "user", "content": r[prompt]}],
        "chosen": [{"role": "assistant", "content": r[chosen]}],
        "rejected": [{"role": "assistant", "content": r[rejected]}],
    }, remove_columns=ds.column_names)
