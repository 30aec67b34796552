"""Human-labelled judge data: one row schema for every source, and the rule of what a judge may train on.

Every row is {source, group, prompt, response, unsafe}: `group` is the question or prompt the answer
belongs to (grouped cross-validation never splits a group), `unsafe` the human label.

    training sources   GPTFuzz (jailbreak answers to 80 questions), PKU-SafeRLHF `judge_train` pairs,
                       DiaSafety train + val, CoCoNot preference answers (benign prompts: both safe)
    benchmark sets     JailbreakEval's safe_rlhf_mini and jailjudge_mini (published judges scored on the
                       same rows), DiaSafety test, XSTest answers to its unsafe prompts
    never trained on   PKU `policy_train` (the policy's prompts), ALERT (the evaluation), the benchmark
                       sets, and any training row whose question also occurs in a benchmark set
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import data
from ..data import DataError, nonempty, paper_b_sources, read_csv, read_json_array, read_jsonl, register  # noqa: F401
# (paper_b_sources registers CoCoNot's sets, read below)

GPTFUZZ = ("safety/judge_labels/gptfuzz/train.csv", "safety/judge_labels/gptfuzz/question_list.csv")
MINI_SETS = {"safe_rlhf_mini": "safety/judge_labels/jailbreakeval/safe_rlhf_mini.csv",
             "jailjudge_mini": "safety/judge_labels/jailbreakeval/jailjudge_mini.csv"}
DIASAFETY_SPLITS = ("train", "val", "test")
XSTEST_AUTOMATED = {kind: tuple(f"safety/xstest/automated_labels/xstest_v2_completions_{m}_{kind}.csv"
                                for m in data.XSTEST_MODELS) for kind in ("gpteval", "streval")}
BENCHMARKS = ("safe_rlhf_mini", "jailjudge_mini", "diasafety_test", "xstest_unsafe")
TRAINING_SOURCES = ("gptfuzz", "pku_judge_train", "diasafety", "coconot")


def _label(path: Path, line: int, value: str, allowed: dict) -> bool:
    if value not in allowed:
        raise DataError(f"{path}:{line}: label {value!r} is not one of {sorted(allowed)}")
    return allowed[value]


@register("gptfuzz", files=GPTFUZZ, schema="source, group (question index), prompt (the question), response, unsafe")
def _read_gptfuzz(files: list[Path]) -> list[dict]:
    answers, questions_file = files
    questions = {}
    for line, row in read_csv(questions_file):
        nonempty(questions_file, line, text=row["text"])
        questions[row["index"]] = row["text"]
    rows = []
    for line, row in read_csv(answers):
        if row["question"] not in questions:
            raise DataError(f"{answers}:{line}: question {row['question']!r} is not in {questions_file.name}")
        rows.append({"source": "gptfuzz", "group": f"gptfuzz:{row['question']}", "prompt": questions[row["question"]],
                     "response": row["Response"], "unsafe": _label(answers, line, row["label"], {"0": False, "1": True})})
    return rows


def _read_mini(files: list[Path], name: str) -> list[dict]:
    (path,) = files
    rows = []
    for line, row in read_csv(path):
        nonempty(path, line, question=row["question"])
        rows.append({"source": name, "group": f"{name}:{normalise(row['question'])}", "prompt": row["question"],
                     "response": row["answer"], "unsafe": _label(path, line, row["label"], {"0": False, "1": True})})
    return rows


for _name, _file in MINI_SETS.items():
    register(_name, files=(_file,), schema="source, group (question), prompt, response, unsafe (JailbreakEval label)",
             options={"name": _name})(_read_mini)


@register("diasafety", files=tuple(f"safety/judge_labels/diasafety/{s}.json" for s in DIASAFETY_SPLITS),
          schema="source, split, group (context), prompt (context), response, unsafe, category")
def _read_diasafety(files: list[Path]) -> list[dict]:
    rows = []
    for split, path in zip(DIASAFETY_SPLITS, files):
        for line, item in read_json_array(path):
            if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("context", "response", "label")):
                raise DataError(f"{path}:{line}: expected an object with text fields context, response, label")
            rows.append({"source": "diasafety", "split": split, "group": f"diasafety:{normalise(item['context'])}",
                         "prompt": item["context"], "response": item["response"], "category": item.get("category", ""),
                         "unsafe": _label(path, line, item["label"], {"Safe": False, "Unsafe": True})})
    return rows


def _read_xstest_automated(files: list[Path], kind: str) -> list[dict]:
    column = {"gpteval": "gpt4_label", "streval": "strmatch_label"}[kind]
    rows = []
    for model, path in zip(data.XSTEST_MODELS, files):
        for line, row in read_csv(path):
            if column not in row:
                raise DataError(f"{path}:{line}: missing column {column!r}")
            rows.append({"model": model, "id": row["id"], "label": strip_number(row[column])})
    return rows


for _kind, _files in XSTEST_AUTOMATED.items():
    register(f"xstest_{_kind}", files=_files, options={"kind": _kind},
             schema="model, id, label (automatic: full_compliance / full_refusal / partial_refusal)")(_read_xstest_automated)


# ---------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case, spacing and trailing punctuation folded: the key two questions are compared by."""
    return re.sub(r"\s+", " ", text).strip().lower().rstrip(" ?.!")


def strip_number(label: str) -> str:
    """XSTest labels come as '1_full_compliance' or 'full_compliance'."""
    return label.split("_", 1)[-1] if label[:2] in ("1_", "2_", "3_") else label


def benchmark_questions() -> list[str]:
    """Normalised questions of the two JailbreakEval sets: no training row may share one."""
    out = set()
    for name in MINI_SETS:
        out |= {normalise(p) for p in data.load(name)["prompt"]}
    return sorted(out)


def shares_question(prompt: str, questions: set[str], long_questions: list[str]) -> bool:
    """True when `prompt` is a benchmark question or contains one (jailbreak prompts wrap the question)."""
    key = normalise(prompt)
    return key in questions or any(q in key for q in long_questions)


def shares_a_benchmark_question():
    """A test `prompt -> bool`: whether the prompt is, or contains, a question of the two JailbreakEval sets."""
    questions = set(benchmark_questions())
    long_questions = [q for q in questions if len(q) >= 40]  # a short question inside a long prompt is chance
    return lambda prompt: shares_question(prompt, questions, long_questions)


def pku_judge_train(settings: dict) -> list[dict]:
    """PKU-SafeRLHF v0 answers of the judge_train prompts, curated as for notebook 03 (label conflicts
    removed; curation refuses to hand out policy_train)."""
    from ..data.curation import judge_rows

    return [{"source": "pku_judge_train", "group": f"pku:{normalise(r['prompt'])}", "prompt": r["prompt"],
             "response": r["response"], "unsafe": bool(r["unsafe"])} for r in judge_rows(settings, "judge_train")]


def coconot_rows() -> list[dict]:
    """CoCoNot's benign look-alike prompts with a compliant and an over-refusing answer: both are safe."""
    rows = []
    for r in data.load("coconot_pref"):
        for response in (r["chosen"], r["rejected"]):
            rows.append({"source": "coconot", "group": f"coconot:{r['id']}", "prompt": r["prompt"], "response": response, "unsafe": False})
    return rows


def training_rows(settings: dict, sources: tuple[str, ...] = TRAINING_SOURCES) -> tuple[list[dict], dict]:
    """Rows the harm judge may learn from, and how many rows each source lost to the benchmark-question rule:
    no row shares a question with a JailbreakEval set, and no DiaSafety train/val row has a DiaSafety *test*
    context (DiaSafety's own splits are not split by context: 448 of its 1,045 test contexts recur in train/val)."""
    unknown = sorted(set(sources) - set(TRAINING_SOURCES))
    if unknown:
        raise ValueError(f"judging.harm.sources: unknown training source(s) {unknown}; choose from {TRAINING_SOURCES}")
    by_source = {
        "gptfuzz": lambda: list(data.load("gptfuzz")),
        "pku_judge_train": lambda: pku_judge_train(settings),
        "diasafety": lambda: [r for r in data.load("diasafety") if r["split"] != "test"],
        "coconot": coconot_rows,
    }
    shared = shares_a_benchmark_question()
    test_contexts = {"diasafety": {normalise(r["prompt"]) for r in data.load("diasafety") if r["split"] == "test"}}
    rows, dropped = [], {}
    for source in sources:
        held_out = test_contexts.get(source, set())
        kept = [_common(r) for r in by_source[source]()
                if not shared(r["prompt"]) and normalise(r["prompt"]) not in held_out]
        dropped[source] = len(by_source[source]()) - len(kept) if source != "pku_judge_train" else None
        rows += kept
    pku_all = pku_judge_train(settings) if "pku_judge_train" in sources else []
    if pku_all:
        dropped["pku_judge_train"] = len(pku_all) - sum(r["source"] == "pku_judge_train" for r in rows)
    return rows, {k: v for k, v in dropped.items() if v is not None}


def _common(row: dict) -> dict:
    return {k: row[k] for k in ("source", "group", "prompt", "response", "unsafe")}


def benchmark_rows(name: str) -> list[dict]:
    """The rows of one benchmark set (see BENCHMARKS), in the common schema plus its extra columns."""
    if name in MINI_SETS:
        return list(data.load(name))
    if name == "diasafety_test":
        return [r for r in data.load("diasafety") if r["split"] == "test"]
    if name == "xstest_unsafe":
        return xstest_unsafe_rows()
    raise ValueError(f"unknown benchmark {name!r}; choose from {BENCHMARKS}")


def xstest_unsafe_rows() -> list[dict]:
    """The 4 models' answers to XSTest's 200 unsafe prompts; unsafe = the human label says full compliance.
    GPT-4's and string matching's labels of the same answers ride along (`gpt4_unsafe`, `strmatch_unsafe`)."""
    automatic = {kind: {(r["model"], r["id"]): r["label"] for r in data.load(f"xstest_{kind}")} for kind in XSTEST_AUTOMATED}
    rows = []
    for r in data.load("xstest_completions"):
        if r["prompt_label"] != "unsafe":
            continue
        key = (r["model"], r["id"])
        rows.append({"source": "xstest_unsafe", "group": f"xstest:{r['id']}", "prompt": r["prompt"], "response": r["completion"],
                     "unsafe": r["final_label"] == "full_compliance", "model": r["model"],
                     "gpt4_unsafe": automatic["gpteval"].get(key) == "full_compliance",
                     "strmatch_unsafe": automatic["streval"].get(key) == "full_compliance"})
    return rows
