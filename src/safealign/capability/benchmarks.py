"""General capability (paper A's Table 6) without lm-evaluation-harness: a log-likelihood
multiple-choice scorer and an exact-match generation scorer over the shipped benchmark copies.

Prompt formats follow lm-eval's task definitions (leaderboard_* for the Open LLM Leaderboard v2 tasks
of Table 6: BBH, GPQA, MMLU-Pro, MATH-hard, IFEval; the plain tasks for MMLU, ARC, BoolQ, PIQA, ...).
Where we differ it says so in `DIFFERENCES` (shown in the book next to the table).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import data

DIFFERENCES = {
    "all": "subsets per profile (stratified where a task has subjects/sub-tasks); few-shot examples come from "
           "the shipped split minus the scored items; multiple-choice tasks score raw text (no chat template), "
           "generation tasks use the model's chat template zero-shot",
    "mmlu": "lm-eval `mmlu` format and acc; shots from MMLU dev (profile `shots`, lm-eval default 0)",
    "mmlu_pro": "leaderboard_mmlu_pro format (letters A-J, acc) but `shots` per profile (leaderboard: 5) drawn "
                "from the same category of the test file (no validation split shipped)",
    "bbh": "leaderboard_bbh format ('Q: ..\\nA:', acc_norm over the task's answer set) on the 24 multiple-choice "
           "tasks; the answer set is the task's distinct targets; shots are the task's first examples "
           "(leaderboard: 3 fixed shots from the BBH prompt files, not shipped)",
    "gpqa_diamond": "leaderboard_gpqa_diamond format and acc_norm, zero-shot, choices shuffled with a fixed seed",
    "math_hard": "generation, zero-shot with the chat template and a \\boxed{} instruction (leaderboard: 4-shot "
                 "Minerva prompt, no chat template); answers compared after Minerva normalisation",
    "gsm8k": "generation, zero-shot with the chat template (lm-eval: 5-shot plain text); flexible-extract "
             "exact match (last number in the answer)",
    "ifeval": "prompt-level strict accuracy on the prompts whose every instruction we check (all IFEval "
              "instruction types except language:response_language, which needs a language detector)",
    "hellaswag": "lm-eval preprocessing and acc_norm",
    "mc": "lm-eval formats of arc_easy/arc_challenge/boolq/piqa/winogrande (partial scoring)",
    "commonsense_qa": "the SmolLM evaluation suite's cloze form (the bare question, each option's text as the "
                      "continuation, acc_norm), as behind SmolLM2's published figure; 4 of the 5 options are "
                      "shipped (chance 0.25). The shipped lettered form makes SmolLM2 answer 'A' every time "
                      "(scripts/commonsense_qa_formats.py)",
}


@dataclass
class MCItem:
    """One multiple-choice question: (context, continuation) per option, and the correct option."""

    options: list[tuple[str, str]]
    gold: int


# ---------------------------------------------------------------------------------------------
# scorers


def _encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's split: trailing spaces of the context move to the continuation; the continuation's
    tokens are those of context+continuation after the context's own tokens."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation, add_special_tokens=False).input_ids
    ctx = tokenizer(context, add_special_tokens=False).input_ids
    cont = whole[len(ctx):] or whole[-1:]
    ctx = whole[:len(whole) - len(cont)]
    if not ctx:  # nothing to condition on: start from the BOS / EOS token as lm-eval does
        ctx = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    return ctx, cont


@torch.no_grad()
def loglikelihoods(model, tokenizer, requests: Sequence[tuple[str, str]], max_length: int = 1024,
                   desc: str = "loglikelihood") -> list[float]:
    """Sum of log p(continuation | context) for each (context, continuation) pair.

    Requests that share a context (the options of one question) run the context once and reuse its KV
    cache for every continuation, so a 10-option question costs about one forward pass, not ten.
    """
    device = next(model.parameters()).device
    groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
    for i, (ctx, cont) in enumerate(requests):
        c, k = _encode_pair(tokenizer, ctx, cont)
        k = k[-max_length:]
        c = c[-max(max_length - len(k), 1):]
        groups.setdefault(tuple(c), []).append((i, k))
    out = [0.0] * len(requests)
    for ctx, members in tqdm(groups.items(), desc=desc, unit="context", leave=False):
        result = model(input_ids=torch.tensor([ctx], device=device), use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(result.logits[0, -1].float(), dim=-1)
        for i, cont in members:
            out[i] = float(first[cont[0]])
        longer = [(i, cont) for i, cont in members if len(cont) > 1]
        if not longer:
            continue
        width = max(len(cont) for _, cont in longer) - 1
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        # right padding after the real tokens cannot change their (causal) logits
        inputs = torch.tensor([cont[:-1] + [pad] * (width - len(cont) + 1) for _, cont in longer], device=device)
        cache = result.past_key_values
        cache.batch_repeat_interleave(len(longer))
        positions = torch.arange(len(ctx), len(ctx) + width, device=device).expand(len(longer), -1)
        logprobs = torch.log_softmax(model(input_ids=inputs, past_key_values=cache, position_ids=positions,
                                           use_cache=True).logits.float(), dim=-1)
        for row, (i, cont) in enumerate(longer):
            targets = torch.tensor(cont[1:], device=device)
            out[i] += float(logprobs[row, :len(targets)].gather(1, targets[:, None]).sum())
    return out


def score_multiple_choice(model, tokenizer, items: Sequence[MCItem], max_length: int = 1024,
                          desc: str = "multiple choice") -> dict:
    """acc (argmax log-likelihood) and acc_norm (log-likelihood per character of the option), as lm-eval."""
    requests = [opt for item in items for opt in item.options]
    ll = loglikelihoods(model, tokenizer, requests, max_length, desc)
    correct, correct_norm, pos = [], [], 0
    for item in items:
        scores = np.array(ll[pos:pos + len(item.options)])
        lengths = np.array([max(len(cont), 1) for _, cont in item.options], dtype=float)
        pos += len(item.options)
        correct.append(float(np.argmax(scores) == item.gold))
        correct_norm.append(float(np.argmax(scores / lengths) == item.gold))
    return {"acc": _mean(correct), "acc_stderr": _stderr(correct), "acc_norm": _mean(correct_norm),
            "acc_norm_stderr": _stderr(correct_norm), "n": len(items)}


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


def _stderr(xs: Sequence[float]) -> float:
    return float(np.std(xs, ddof=1) / np.sqrt(len(xs))) if len(xs) > 1 else float("nan")


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> dict:
    hits = [float(p == r) for p, r in zip(predictions, references, strict=True)]
    return {"exact_match": _mean(hits), "exact_match_stderr": _stderr(hits), "n": len(hits)}


# ---------------------------------------------------------------------------------------------
# subsets


def _sample(n_rows: int, n: int | None, seed: int, exclude: set[int] = frozenset()) -> list[int]:
    pool = [i for i in range(n_rows) if i not in exclude]
    rng = np.random.default_rng(seed)
    if n is None or n >= len(pool):
        return pool
    return sorted(int(i) for i in rng.choice(pool, size=n, replace=False))


def _stratified(labels: Sequence[str], n: int | None, seed: int, exclude: set[int] = frozenset()) -> list[int]:
    """n rows spread as evenly as possible over the label values (round robin over shuffled groups)."""
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        if i not in exclude:
            groups.setdefault(lab, []).append(i)
    queues = [list(rng.permutation(groups[k])) for k in sorted(groups)]
    order = [int(q[r]) for r in range(max(map(len, queues))) for q in queues if r < len(q)]
    return sorted(order if n is None else order[:n])


# ---------------------------------------------------------------------------------------------
# multiple-choice tasks (lm-eval formats)

LETTERS = string.ascii_uppercase


def mmlu_items(n: int | None, seed: int, shots: int = 0) -> list[MCItem]:
    test, dev = data.load("mmlu"), data.load("mmlu", split="dev")
    dev_by_subject: dict[str, list[dict]] = {}
    for row in dev:
        dev_by_subject.setdefault(row["subject"], []).append(row)

    def block(row: dict, answer: bool) -> str:
        text = row["question"].strip() + "\n" + "".join(f"{LETTERS[i]}. {c}\n" for i, c in enumerate(row["choices"]))
        return text + "Answer:" + (f" {LETTERS[row['gold']]}\n\n" if answer else "")

    items = []
    for i in _stratified(test["subject"], n, seed):
        row = test[i]
        head = f"The following are multiple choice questions (with answers) about {row['subject'].replace('_', ' ')}.\n\n"
        fewshot = "".join(block(d, True) for d in dev_by_subject.get(row["subject"], [])[:shots])
        items.append(MCItem([(head + fewshot + block(row, False), f" {L}") for L in "ABCD"], row["gold"]))
    return items


def mmlu_pro_items(n: int | None, seed: int, shots: int = 0) -> list[MCItem]:
    ds = data.load("mmlu_pro")
    chosen = _stratified(ds["category"], n, seed)
    taken = set(chosen)
    by_category: dict[str, list[int]] = {}
    for i, cat in enumerate(ds["category"]):
        if i not in taken:
            by_category.setdefault(cat, []).append(i)

    def block(row: dict, answer: bool) -> str:
        text = f"{row['question']}\n" + "".join(f"{LETTERS[i]}. {o}\n" for i, o in enumerate(row["choices"]))
        return text + "Answer:" + (f" {LETTERS[row['gold']]}\n\n" if answer else "")

    items = []
    for i in chosen:
        row = ds[i]
        fewshot = "".join(block(ds[j], True) for j in by_category.get(row["category"], [])[:shots])
        items.append(MCItem([(fewshot + block(row, False), f" {LETTERS[k]}") for k in range(len(row["choices"]))],
                            row["gold"]))
    return items


def _clean(text: str) -> str:
    """lm-eval's `preprocess` for HellaSwag and GPQA: WikiHow's [title] markers and bracketed tags removed."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def gpqa_items(n: int | None, seed: int) -> list[MCItem]:
    ds = data.load("gpqa_diamond")
    rng = np.random.default_rng(seed)
    items = []
    for i in _sample(len(ds), n, seed):
        row = ds[i]
        perm = [int(k) for k in rng.permutation(4)]
        choices = [_clean(row["choices"][k]) for k in perm]
        text = (f"What is the correct answer to this question:{row['question']}\nChoices:\n"
                + "".join(f"({LETTERS[k]}) {c}\n" for k, c in enumerate(choices)) + "Answer: ")
        items.append(MCItem([(text, f"({LETTERS[k]})") for k in range(4)], perm.index(row["gold"])))
    return items


BBH_GENERATIVE = ("dyck_languages", "multistep_arithmetic_two", "word_sorting")  # not in leaderboard_bbh


def bbh_items(n: int | None, seed: int, shots: int = 3) -> list[MCItem]:
    ds = data.load("bbh")
    tasks: dict[str, list[int]] = {}
    for i, task in enumerate(ds["task"]):
        if task not in BBH_GENERATIVE:
            tasks.setdefault(task, []).append(i)
    shot_rows = {t: idx[:shots] for t, idx in tasks.items()}
    answer_sets = {t: sorted({ds[i]["target"] for i in idx}) for t, idx in tasks.items()}
    exclude = {i for idx in shot_rows.values() for i in idx}
    labels = [t if t in tasks else "" for t in ds["task"]]
    exclude |= {i for i, lab in enumerate(labels) if not lab}
    items = []
    for i in _stratified(labels, n, seed, exclude):
        row = ds[i]
        fewshot = "".join(f"Q: {ds[j]['input']}\nA: {ds[j]['target']}\n\n" for j in shot_rows[row["task"]])
        answers = answer_sets[row["task"]]
        items.append(MCItem([(fewshot + f"Q: {row['input']}\nA:", f" {a}") for a in answers],
                            answers.index(row["target"])))
    return items


def hellaswag_items(n: int | None, seed: int) -> list[MCItem]:
    ds = data.load("hellaswag")
    return [MCItem([(_clean(ds[i]["context"]), " " + _clean(e)) for e in ds[i]["endings"]],
                   ds[i]["gold"]) for i in _sample(len(ds), n, seed)]


_CSQA_OPTION = re.compile(r"^([A-E])\. (.*)$")


def commonsense_qa_parts(query: str) -> tuple[str, list[str]]:
    """The question and the option texts of a shipped (lettered) CommonsenseQA query."""
    lines = query.split("\n")
    if not (len(lines) > 3 and lines[0].startswith("Question: ") and lines[1] == "Choices:" and lines[-1] == "Answer:"):
        raise ValueError(f"unexpected CommonsenseQA query layout: {query[:120]!r}")
    options = []
    for line in lines[2:-1]:
        match = _CSQA_OPTION.match(line)
        if not match:
            raise ValueError(f"unexpected CommonsenseQA option line {line!r} in {query[:80]!r}")
        options.append(match.group(2))
    return lines[0][len("Question: "):], options


def mc_items(task: str, n: int | None, seed: int) -> list[MCItem]:
    ds = data.load("mc", task=task)
    items = []
    for i in _sample(len(ds), n, seed):
        row = ds[i]
        q, choices = row["query"], row["choices"]
        if task == "winogrande":  # partial scoring: the option is in the context, the continuation is shared
            options = [(c, " " + q) for c in choices]
        elif task == "commonsense_qa":  # the SmolLM suite's cloze form: the question, each option's text
            question, texts = commonsense_qa_parts(q)
            if len(texts) != len(choices):
                raise ValueError(f"commonsense_qa row {i}: {len(texts)} options listed, {len(choices)} letters")
            options = [(question, f" {t}") for t in texts]
        elif task == "boolq":
            options = [(q.rstrip("?") + "?\nAnswer:", f" {c}") for c in choices]
        else:  # arc_easy, arc_challenge, piqa: "Question: ...\nAnswer:" + " choice"
            options = [(q.rstrip("\n") + "\nAnswer:", f" {c}") for c in choices]
        items.append(MCItem(options, row["gold"]))
    return items


# ---------------------------------------------------------------------------------------------
# generation tasks

_NUMBER = re.compile(r"-?[$0-9.,]{2,}|-?[0-9]+")


def last_number(text: str) -> str:
    """lm-eval gsm8k 'flexible-extract': the last number in the text, without $ , and a trailing '.'."""
    found = _NUMBER.findall(text)
    if not found:
        return ""
    return found[-1].replace("$", "").replace(",", "").rstrip(".")


def gsm8k_score(generate, n: int | None, max_new_tokens: int, batch_size: int, seed: int) -> tuple[dict, list]:
    """GSM8K exact match through any generate function (a backend's), and one record per answer."""
    ds = data.load("gsm8k", split="test")
    rows = ds.select(_sample(len(ds), n, seed))
    prompts = [f"{q}\nSolve it step by step and end with the final answer as '#### <number>'." for q in rows["question"]]
    answers = generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, desc="gsm8k")
    preds = [_normalise_number(last_number(a)) for a in answers]
    golds = [_normalise_number(f) for f in rows["final"]]
    return exact_match(preds, golds), [{"benchmark": "gsm8k", "prompt": p, "answer": a, "correct": x == g}
                                       for p, a, x, g in zip(prompts, answers, preds, golds)]


def gsm8k_task(generate, n: int | None, seed: int, max_new_tokens: int, batch_size: int) -> dict:
    return gsm8k_score(generate, n, max_new_tokens, batch_size, seed)[0]


def _normalise_number(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text.strip()
    return str(int(value)) if value == int(value) else str(value)


# Minerva's answer normalisation (Lewkowycz et al. 2022, appendix D), as in lm-eval's minerva_math utils.
_SUBSTITUTIONS = [("an ", ""), ("a ", ""), (".$", "$"), ("\\$", ""), (r"\ ", ""), (" ", ""), ("mbox", "text"),
                  (",\\text{and}", ","), ("\\text{and}", ","), ("\\text{m}", "\\text{}")]
_REMOVED = ["square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units", "\\ldots", "sue",
            "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm", "pounds", "meters", "meals",
            "edges", "students", "childrentickets", "multiples", "\\text{s}", "\\text{.}", "\\text{\ns}",
            "\\text{}^2", "\\text{}^3", "\\text{\n}", "\\text{}", r"\mathrm{th}", r"^\circ", r"^{\circ}", r"\;", r",\!",
            "{,}", '"', "\\dots"]


def normalize_final_answer(answer: str) -> str:
    answer = answer.split("=")[-1]
    for before, after in _SUBSTITUTIONS:
        answer = answer.replace(before, after)
    for expr in _REMOVED:
        answer = answer.replace(expr, "")
    answer = re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", answer)
    answer = re.sub(r"(\\text\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\textbf\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\overline\{)(.*?)(\})", "\\2", answer)
    answer = re.sub(r"(\\boxed\{)(.*)(\})", "\\2", answer)
    answer = re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}", answer)
    answer = re.sub(r"(sqrt)([^{])", "sqrt{\\2}", answer)
    answer = answer.replace("$", "")
    if answer.replace(",", "").isdigit():
        answer = answer.replace(",", "")
    return answer.strip()


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (balanced braces), or None."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return None


def math_answer(text: str) -> str:
    boxed = last_boxed(text)
    if boxed is None:
        match = re.findall(r"final answer is \$?(.*?)\$?(?:\.|$)", text)
        boxed = match[-1] if match else ""
    return normalize_final_answer(boxed)


def math_hard_task(generate, n: int | None, seed: int, max_new_tokens: int, batch_size: int) -> dict:
    ds = data.load("math", level=5)
    rows = ds.select(_stratified(ds["subject"], n, seed))
    prompts = [f"Problem:\n{p}\n\nSolve the problem and put the final answer in \\boxed{{}}." for p in rows["problem"]]
    answers = generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size, desc="MATH level 5")
    return exact_match([math_answer(a) for a in answers], [normalize_final_answer(a) for a in rows["answer"]])


# ---------------------------------------------------------------------------------------------
# IFEval: strict checks of the instruction types, after google-research/instruction_following_eval


def _compare(relation: str, value: int, target: int) -> bool:
    if relation == "less than":
        return value < target
    if relation == "at least":
        return value >= target
    raise ValueError(f"unknown IFEval relation {relation!r}")


def _paragraphs(text: str, splitter: str = r"\s?\*\*\*\s?") -> list[str] | None:
    parts = re.split(splitter, text)
    inner = parts[1:-1] if len(parts) > 2 else []
    if any(not p.strip() for p in inner):
        return None
    return [p for p in parts if p.strip()]


def _postscript(text: str, marker: str) -> bool:
    low = text.lower()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, low, flags=re.MULTILINE))


def _json_ok(text: str) -> bool:
    text = text.strip().removeprefix("```json").removeprefix("```Json").removeprefix("```JSON").removeprefix("```")
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()])


def _nth_paragraph(text: str, k: dict) -> bool:
    paragraphs = [p for p in re.split(r"\n\n", text) if p.strip()]
    if len(paragraphs) != k["num_paragraphs"] or len(paragraphs) < k["nth_paragraph"]:
        return False
    words = paragraphs[k["nth_paragraph"] - 1].strip().split()
    first = words[0].lstrip("'\"").rstrip(".,!?'\"").lower() if words else ""
    return first == k["first_word"].lower()


IFEVAL_CHECKS: dict[str, Callable[[str, dict], bool]] = {
    "punctuation:no_comma": lambda r, k: "," not in r,
    "change_case:english_lowercase": lambda r, k: r == r.lower(),
    "change_case:english_capital": lambda r, k: r == r.upper(),
    "change_case:capital_word_frequency": lambda r, k: _compare(
        k["capital_relation"], sum(w.isupper() for w in _words(r)), k["capital_frequency"]),
    "length_constraints:number_words": lambda r, k: _compare(k["relation"], len(_words(r)), k["num_words"]),
    "length_constraints:number_sentences": lambda r, k: _compare(k["relation"], _sentences(r), k["num_sentences"]),
    "length_constraints:number_paragraphs": lambda r, k: (lambda p: p is not None and len(p) == k["num_paragraphs"])(
        _paragraphs(r)),
    "length_constraints:nth_paragraph_first_word": _nth_paragraph,
    "keywords:existence": lambda r, k: all(re.search(re.escape(w), r, flags=re.I) for w in k["keywords"]),
    "keywords:forbidden_words": lambda r, k: not any(
        re.search(r"\b" + re.escape(w) + r"\b", r, flags=re.I) for w in k["forbidden_words"]),
    "keywords:frequency": lambda r, k: _compare(
        k["relation"], len(re.findall(re.escape(k["keyword"]), r, flags=re.I)), k["frequency"]),
    "keywords:letter_frequency": lambda r, k: _compare(
        k["let_relation"], r.lower().count(k["letter"].lower()), k["let_frequency"]),
    "detectable_format:title": lambda r, k: bool(re.search(r"<<[^\n]+>>", r)),
    "detectable_format:number_bullet_lists": lambda r, k: len(
        re.findall(r"^\s*\*[^\*].*$", r, flags=re.M)) + len(re.findall(r"^\s*-.*$", r, flags=re.M)) == k["num_bullets"],
    "detectable_format:number_highlighted_sections": lambda r, k: len(
        [h for h in re.findall(r"\*[^\n\*]*\*", r) if h.strip("*").strip()]) + len(
        [h for h in re.findall(r"\*\*[^\n\*]*\*\*", r) if h.removeprefix("**").removesuffix("**").strip()]
    ) >= k["num_highlights"],
    "detectable_format:multiple_sections": lambda r, k: len(
        re.split(r"\s?" + re.escape(k["section_spliter"]) + r"\s?\d+\s?", r)) - 1 >= k["num_sections"],
    "detectable_format:json_format": lambda r, k: _json_ok(r),
    "detectable_format:constrained_response": lambda r, k: any(
        o in r for o in ("My answer is yes.", "My answer is no.", "My answer is maybe.")),
    "detectable_content:postscript": lambda r, k: _postscript(r, k["postscript_marker"]),
    "detectable_content:number_placeholders": lambda r, k: len(re.findall(r"\[.*?\]", r)) >= k["num_placeholders"],
    "startend:end_checker": lambda r, k: r.strip().strip('"').lower().endswith(k["end_phrase"].strip().lower()),
    "startend:quotation": lambda r, k: len(r.strip()) > 1 and r.strip()[0] == '"' and r.strip()[-1] == '"',
    "combination:two_responses": lambda r, k: (lambda parts: len(parts) == 2 and parts[0] != parts[1])(
        [p.strip() for p in r.split("******") if p.strip()]),
    "combination:repeat_prompt": lambda r, k: r.strip().lower().startswith(k["prompt_to_repeat"].strip().lower()),
}


def ifeval_follows(response: str, instruction_ids: Sequence[str], kwargs: Sequence[dict]) -> list[bool]:
    """Strict pass/fail for each instruction (an empty response follows nothing)."""
    results = []
    for inst, k in zip(instruction_ids, kwargs, strict=True):
        k = {key: v for key, v in (k or {}).items() if v is not None}
        results.append(bool(response.strip()) and IFEVAL_CHECKS[inst](response, k))
    return results


def ifeval_task(generate, n: int | None, seed: int, max_new_tokens: int, batch_size: int) -> dict:
    ds = data.load("ifeval")
    supported = [i for i, ids in enumerate(ds["instruction_id_list"]) if all(x in IFEVAL_CHECKS for x in ids)]
    rows = ds.select([supported[i] for i in _sample(len(supported), n, seed)])
    answers = generate(list(rows["prompt"]), max_new_tokens=max_new_tokens, batch_size=batch_size, desc="IFEval")
    per_prompt = [ifeval_follows(a, ids, json.loads(k))
                  for a, ids, k in zip(answers, rows["instruction_id_list"], rows["kwargs"])]
    prompt_level = [float(all(p)) for p in per_prompt]
    inst_level = [float(x) for p in per_prompt for x in p]
    return {"prompt_level_strict_acc": _mean(prompt_level), "prompt_level_strict_acc_stderr": _stderr(prompt_level),
            "inst_level_strict_acc": _mean(inst_level), "n": len(prompt_level),
            "supported_prompts": len(supported), "total_prompts": len(ds)}


# ---------------------------------------------------------------------------------------------
# all tasks

MC_BUILDERS = {
    "mmlu": lambda c, s: mmlu_items(c["n"], s, _required(c, "mmlu", "shots")),
    "mmlu_pro": lambda c, s: mmlu_pro_items(c["n"], s, _required(c, "mmlu_pro", "shots")),
    "bbh": lambda c, s: bbh_items(c["n"], s, _required(c, "bbh", "shots")),
    "gpqa_diamond": lambda c, s: gpqa_items(c["n"], s),
    "hellaswag": lambda c, s: hellaswag_items(c["n"], s),
    **{t: (lambda c, s, t=t: mc_items(t, c["n"], s)) for t in data.MC_TASKS},
}
GENERATION_TASKS = {"gsm8k": gsm8k_task, "math_hard": math_hard_task, "ifeval": ifeval_task}
# The metric each task reports in the book's table (the Open LLM Leaderboard v2 choice where it has one).
HEADLINE_METRIC = {"mmlu": "acc", "mmlu_pro": "acc", "bbh": "acc_norm", "gpqa_diamond": "acc_norm",
                   "hellaswag": "acc_norm", "arc_challenge": "acc_norm", "arc_easy": "acc", "boolq": "acc",
                   "commonsense_qa": "acc_norm", "piqa": "acc_norm", "winogrande": "acc",
                   "gsm8k": "exact_match", "math_hard": "exact_match", "ifeval": "prompt_level_strict_acc"}


def _required(task_cfg, task: str, key: str):
    if task_cfg[key] is None:
        raise ValueError(f"profile section eval.general.tasks.{task} needs the key {key!r}")
    return task_cfg[key]


MC_ENGINES = ("lm-eval", "book")


def score_mc_tasks(backend, tasks: dict[str, list[MCItem]], cfg, seed: int) -> dict:
    """{task: metrics} of the multiple-choice tasks for the model behind generation `backend`, scored by the
    profile's eval.general.engine: lm-eval (the model in memory through lm-eval's HFLM, or the backend's saved
    folder in lm-eval's vLLM) or the book's own scorer. Both give the same predictions on the same items
    (tests/test_harness.py)."""
    engine = cfg["engine"]
    if engine not in MC_ENGINES:
        raise ValueError(f"eval.general.engine {engine!r} in profiles.yaml: choose one of {' | '.join(MC_ENGINES)}")
    if engine == "book":
        return {task: {**score_multiple_choice(backend.model, backend.tokenizer, items, cfg["max_length"], desc=task),
                       "engine": "book"} for task, items in tasks.items()}
    import tempfile

    from . import harness

    lm = cfg["lm_eval"]
    if lm["model"] == "hf":
        if lm["engine_args"]:
            raise ValueError(f"eval.general.lm_eval.engine_args {dict(lm['engine_args'])} apply to model vllm only")
        kind, args = harness.hf_lm(backend.model, backend.tokenizer, lm["batch_size"], cfg["max_length"]), None
    elif lm["model"] == "vllm":
        if getattr(backend, "folder", None) is None:
            raise ValueError("eval.general.lm_eval.model vllm needs the saved model's folder (the backend has none)")
        kind, args = "vllm", harness.model_args("vllm", backend.folder, {"max_model_len": cfg["max_length"],
                                                                     **lm["engine_args"]})
    else:
        raise ValueError(f"eval.general.lm_eval.model {lm['model']!r} in profiles.yaml: choose hf | vllm")
    with tempfile.TemporaryDirectory(prefix="safealign-lm-eval-") as workdir:
        scores = harness.run(tasks, kind, args, workdir, batch_size=lm["batch_size"], seed=seed)
    version = harness.lm_eval_version()
    return {task: {k: v for k, v in s.items() if k != "per_item"} | {"engine": f"lm-eval {version} ({lm['model']})"}
            for task, s in scores.items()}


def evaluate_all(backend, cfg, seed: int, batch_size: int) -> dict:
    """{task: metrics} for every task named in the profile's `eval.general.tasks`, for the model behind
    generation `backend` (generate.backend): the multiple-choice tasks by the profile's engine
    (score_mc_tasks), the generation tasks by the book's scorers through the backend's `generate`, batched
    `batch_size` prompts at a time (eval.common.batch_size)."""
    unknown = sorted(set(cfg["tasks"]) - set(MC_BUILDERS) - set(GENERATION_TASKS))
    if unknown:
        raise ValueError(f"unknown general task {unknown[0]!r} in profile section eval.general.tasks; "
                         f"known: {sorted(MC_BUILDERS) + sorted(GENERATION_TASKS)}")
    mc = {task: MC_BUILDERS[task](task_cfg, seed) for task, task_cfg in cfg["tasks"].items() if task in MC_BUILDERS}
    scored = score_mc_tasks(backend, mc, cfg, seed) if mc else {}
    results = {}
    for task, task_cfg in cfg["tasks"].items():
        if task in GENERATION_TASKS:
            results[task] = GENERATION_TASKS[task](backend.generate, task_cfg["n"], seed,
                                                   _required(task_cfg, task, "max_new_tokens"), batch_size)
        else:
            results[task] = scored[task]
        results[task]["metric"] = HEADLINE_METRIC[task]
    return results
