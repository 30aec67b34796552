"""Paper B's evaluation of one policy (its Figures 2, 3, 5 and Table 1), every rate with a 95% interval.

    result, records = evaluate_policy(settings, name, policy_dir, test_pools)

- safety per harm type: the harm judge's safe rate on the held-out test prompts of each type pool
  (stage type-pools), with a Wilson interval (a bootstrap of a pool of a few EHD test prompts would be
  degenerate) and the rate per source;
- ALERT S, our stand-in for paper B's "natural" (its safe rate on real-world traffic, s = N_safe / N_test): Def. 4,
  category-weighted, on `paper_b_eval.alert_per_category` red-teaming prompts per fine ALERT category, a subset of
  the evaluation chapter's sample (stratified bootstrap);
- over-refusal: the refusal detector's rate on XSTest's safe prompts and on CoCoNot's contrast prompts;
- general: GSM8K exact match (generated) and log-likelihood multiple choice (capability.benchmarks);
- diversity of the safe answers (paper B's Figure 4): distinct-1/2 and the share of templated refusals, also at
  matched sample sizes (rarefaction), since both move with the number of answers.
Every model answers greedily (the generation backend's default); paper B sampled (temperature 0.8, top-p 0.8,
top-k 50), so its rates include sampling noise that ours do not.
Answers are kept in book/answers/<profile>/paper_b/<name>.json, keyed by the weights' digest, so a re-run
with other judges re-scores without generating. Sizes: profiles.yaml section `paper_b_eval`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .. import data, models, paths
from ..data import paper_b_sources  # noqa: F401  (registers CoCoNot's sets)
from ..generate import backend as backends
from ..generate.answer_cache import AnswerCache
from ..profiles import Section, section
from ..stats import holm, wilson_interval  # noqa: F401  (also paper_b.wilson_interval)
from .run import refusal_rate, run_alert, run_over_refusal


@section
class PaperBEvalSettings(Section):
    """profiles.yaml section `paper_b_eval` (a wing section: paper B's evaluation stages read it)."""
    models: list[str]            # "base" and aligned methods, one stage paper-b-eval-<model> each
    per_type: int | None         # test prompts per harm type (None = the whole test pool)
    coconot_contrast: int        # CoCoNot contrast prompts for over-refusal (beside XSTest's safe prompts)
    max_new_tokens: int
    alert_per_category: int | None  # ALERT prompts per fine category for S (None = all)
    gsm8k: int                   # GSM8K test items (general ability, generated)
    gsm8k_max_new_tokens: int
    mc_tasks: dict[str, int]     # log-likelihood tasks of capability.benchmarks -> items
    template_words: int          # an answer's opening = its first this many words ...
    template_min_count: int      # ... templated when at least this many answers share it


def answers_path(profile: str, name: str) -> Path:
    return paths.answers_dir(profile) / "paper_b" / f"{name}.json"


def safety_by_type(generate, judge, test_pools: Mapping[str, Sequence[dict]], per_type: int | None, cfg: dict,
                   seed: int) -> tuple[dict, list[dict]]:
    """The judge's safe rate per harm type on its test prompts with a Wilson 95% interval, and per source."""
    out, records = {}, []
    for kind, rows in test_pools.items():
        rows = list(rows)[:per_type] if per_type else list(rows)
        if not rows:
            out[kind] = {"score": None, "ci95": None, "n": 0}
            continue
        prompts = [r["prompt"] for r in rows]
        answers = generate(prompts, max_new_tokens=cfg["max_new_tokens"], batch_size=cfg["batch_size"], desc=kind)
        safe = [v.safe for v in judge.judge(prompts, answers)]
        by_source = {}
        for source in sorted({r["source"] for r in rows}):
            picked = [s for s, r in zip(safe, rows) if r["source"] == source]
            by_source[source] = {"score": sum(picked) / len(picked), "n": len(picked)}
        out[kind] = {"score": sum(safe) / len(safe), "ci95": wilson_interval(sum(safe), len(safe)), "n": len(safe),
                     "by_source": by_source}
        records += [{"benchmark": f"pool:{kind}", "prompt": p, "answer": a, "safe": s, "source": r["source"]}
                    for p, a, s, r in zip(prompts, answers, safe, rows)]
    return out, records


def coconot_over_refusal(generate, detector, n: int | None, cfg: dict, seed: int) -> tuple[dict, list[dict]]:
    """Refusal rate on CoCoNot's contrast prompts (benign look-alikes): a seeded sample of n (None = all)."""
    ds = data.load("coconot_contrast")
    order = np.random.default_rng(seed).permutation(len(ds))
    rows = ds.select(sorted(int(i) for i in (order[:n] if n else order)))
    answers = generate(rows["prompt"], max_new_tokens=cfg["max_new_tokens"], batch_size=cfg["batch_size"],
                       desc="CoCoNot contrast")
    labels = detector.classify(rows["prompt"], answers)
    result = {**refusal_rate(labels), "population": len(ds)}
    return result, [{"benchmark": "coconot_contrast", "prompt": p, "answer": a, "label": lab}
                    for p, a, lab in zip(rows["prompt"], answers, labels)]


def _words(text: str) -> list[str]:
    return text.casefold().split()


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct n-grams over all n-grams of the texts (Li et al. 2016's distinct-n); None without any n-gram."""
    grams = [tuple(w[i:i + n]) for w in map(_words, texts) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def templated_share(texts: Sequence[str], words: int, min_count: int) -> float | None:
    """Share of texts whose opening (first `words` words, case-folded) is shared by >= min_count texts."""
    openings = [" ".join(_words(t)[:words]) for t in texts]
    counts = Counter(o for o in openings if o)
    return sum(counts[o] >= min_count for o in openings if o) / len(texts) if texts else None


def jackknife_interval(statistic, items: Sequence, groups: int = 20, seed: int = 0) -> list[float] | None:
    """95% interval of a corpus statistic (distinct-n, a templated share) by the delete-a-group jackknife: items
    split at random into `groups` groups, the statistic recomputed without each, point ± 1.96 jackknife SE. A
    bootstrap would be biased here: its resamples repeat answers, and repeated answers lower distinct-n."""
    point = statistic(list(items))
    g = min(groups, len(items))
    if point is None or g < 2:
        return None
    label = np.random.default_rng(seed).permutation(len(items)) % g
    values = [statistic([it for it, lab in zip(items, label) if lab != k]) for k in range(g)]
    values = np.array([v for v in values if v is not None], dtype=float)
    if len(values) < 2:
        return None
    se = float(np.sqrt((len(values) - 1) / len(values) * np.sum((values - values.mean()) ** 2)))
    return [point - 1.959964 * se, point + 1.959964 * se]


RAREFACTION_DRAWS = 50   # random subsets per size: the mean's spread is far below the measures' own intervals


def rarefaction(statistic, items: Sequence, seed: int = 0, draws: int = RAREFACTION_DRAWS) -> dict[str, float]:
    """A corpus statistic at fixed sample sizes 2, 4, 8, ... (up to the items there are): at each size the mean
    over `draws` random subsets. Distinct-n falls and a templated share rises as the corpus grows, so two models
    are compared at one size both reach (`matched_size`), not on corpora of their own sizes."""
    rng = np.random.default_rng(seed)
    out, size = {}, 2
    while size <= len(items):
        values = [statistic([items[i] for i in rng.choice(len(items), size, replace=False)]) for _ in range(draws)]
        values = [v for v in values if v is not None]
        if values:
            out[str(size)] = float(np.mean(values))
        size *= 2
    return out


def matched_size(curves: Sequence[Mapping[str, float]]) -> str | None:
    """The largest sample size every curve (rarefaction) has a value at; None when some curve is empty."""
    common = set.intersection(*(set(c) for c in curves)) if curves else set()
    return max(common, key=int) if common else None


def _share_interval(statistic, items: Sequence, seed: int) -> list[float] | None:
    """A templated share's 95% interval: the jackknife (one answer's opening counts with the others'), Wilson's
    where the share is 0 or 1 and the jackknife collapses."""
    value = statistic(list(items))
    if value is None:
        return None
    if value in (0.0, 1.0):
        return proportion_interval(value, len(items))
    return jackknife_interval(statistic, items, seed=seed)


def diversity(records: Sequence[dict], refusal_labels: Sequence[str], cfg, seed: int = 0) -> dict:
    """Diversity of the safe answers to the harmful prompts (type pools and ALERT): distinct-1/2 of the safe
    answers and the share of templated openings among the refusals, each on all of them (distinct-2 with a
    jackknife 95% interval, answers deleted a group at a time; the share with `_share_interval`) and as a
    rarefaction curve, which the comparison across models reads at a size all of them reach."""
    safe = [r["answer"] for r in records if r.get("safe")]
    refusals = [r["answer"] for r, lab in zip(records, refusal_labels) if lab in ("refused", "partial")]
    templated = lambda texts: templated_share(texts, cfg.template_words, cfg.template_min_count)  # noqa: E731
    distinct_2 = lambda texts: distinct_n(texts, 2)  # noqa: E731
    return {"safe_answers": len(safe), "distinct_1": distinct_n(safe, 1), "distinct_2": distinct_2(safe),
            "distinct_2_ci95": jackknife_interval(distinct_2, safe, seed=seed),
            "distinct_2_rarefied": rarefaction(distinct_2, safe, seed),
            "refusals": len(refusals), "templated_refusal_share": templated(refusals),
            "templated_refusal_share_ci95": _share_interval(templated, refusals, seed),
            "templated_refusal_share_rarefied": rarefaction(templated, refusals, seed),
            "template_rule": f"first {cfg.template_words} words shared by >= {cfg.template_min_count} refusals"}


def folder_backend(settings, name: str, folder: Path | str):
    """A generation backend for a policy folder (a mixing point), identified by its weights' digest."""
    identity = {"model": name, "weights": models.weights_digest(folder)}
    return backends.make_backend(settings, lambda: models.load_model(str(folder), device="cpu"), identity, str(folder))


def evaluate_policy(settings, name: str, backend, test_pools: Mapping[str, Sequence[dict]]) -> tuple[dict, list]:
    """Every measure above for the model behind generation `backend` (its weights load only on a cache miss;
    `evaluate.run.policy_backend` for the base model and aligned methods, `folder_backend` for a folder)."""
    from .. import judges
    from ..capability.benchmarks import HEADLINE_METRIC, MC_BUILDERS, gsm8k_score, score_mc_tasks
    from ..capability.harness import lm_eval_version

    cfg, ecfg, seed = settings.paper_b_eval, settings.eval, settings.seed
    common = {**ecfg.common, "max_new_tokens": cfg.max_new_tokens}
    cache = AnswerCache(answers_path(settings.name, name), backend)
    gen = cache.generate
    judge = judges.load_safety_judge(settings)
    detector = judges.load_refusal_detector(settings, ecfg.refusal_detector)
    result = {"name": name, "judge": judge.name, "refusal_detector": detector.name}
    result["safety_by_type"], records = safety_by_type(gen, judge, test_pools, cfg.per_type, common, seed)
    alert_cfg = {**common, **ecfg.alert, "per_category": cfg.alert_per_category, "max_new_tokens": cfg.max_new_tokens}
    alert, rec = run_alert(gen, judge, alert_cfg, seed)
    result["alert_s"] = {"score": alert["overall"], "ci95": alert["ci95"], "n": alert["n"]}
    records += rec
    harmful = [r for r in records if r["benchmark"].startswith("pool:") or r["benchmark"] == "alert"]
    result["diversity"] = diversity(harmful, detector.classify([r["prompt"] for r in harmful],
                                                               [r["answer"] for r in harmful]), cfg, seed)
    xstest, rec = run_over_refusal(gen, detector, {**common, **ecfg.xstest, "max_new_tokens": cfg.max_new_tokens}, seed)
    records += rec
    coconot, rec = coconot_over_refusal(gen, detector, cfg.coconot_contrast, common, seed)
    records += rec
    result["over_refusal"] = {"xstest_safe": xstest, "coconot_contrast": coconot}
    general, rec = gsm8k_score(gen, cfg.gsm8k, cfg.gsm8k_max_new_tokens, ecfg.common.batch_size, seed)
    records += rec
    result["general"] = {"gsm8k": general}
    unknown = sorted(set(cfg.mc_tasks) - set(MC_BUILDERS))
    if unknown:
        raise ValueError(f"paper_b_eval.mc_tasks: unknown task(s) {unknown}; choose from {sorted(MC_BUILDERS)}")
    for task, n in cfg.mc_tasks.items():
        items = MC_BUILDERS[task]({"n": n, "shots": 0}, seed)
        result["general"][task] = {**cache.get_or_run(
            f"mc:{task}", ["capability.benchmarks", "capability.harness"],
            {"task": task, "n": n, "seed": seed, "engine": ecfg.general.engine, "lm_eval": ecfg.general.lm_eval.to_dict(),
             "lm_eval_version": lm_eval_version()},
            lambda items=items, task=task: score_mc_tasks(backend, {task: items}, ecfg.general, seed)[task]),
            "metric": HEADLINE_METRIC[task]}
    result["answer_cache"] = {"hits": cache.hits, "misses": cache.misses, "model_loaded": backend.loaded}
    cache.save(keep_only_used=True)
    return result, records


# ---------------------------------------------------------------------------------------------
# the Table 1 chapter: models side by side, paired claims

# paper B's Table 1 (Qwen2-7B after SFT; safety = GPT-4-judged harmless rate): the rows we also measure. Our
# GRPO stands in for paper B's PPO (TRL has no PPO), our RS / ARS are its RJ / ARJ.
PAPER_B_TABLE1 = {
    "base": {"IHD": 0.6985, "EHD": 0.6690, "MHD": 0.7565, "natural": 0.7530, "arc_easy": 0.939, "hellaswag": 0.8172,
             "gsm8k": 0.8840},
    "dpo": {"IHD": 0.8340, "EHD": 0.7045, "MHD": 0.7970, "natural": 0.7815, "arc_easy": 0.9354, "hellaswag": 0.8149,
            "gsm8k": 0.8757},
    "adpo": {"IHD": 0.9430, "EHD": 0.7290, "MHD": 0.8835, "natural": 0.9020, "arc_easy": 0.9381, "hellaswag": 0.8171,
             "gsm8k": 0.8923},
    "grpo": {"IHD": 0.8245, "EHD": 0.7100, "MHD": 0.7675, "natural": 0.8215, "arc_easy": 0.9405, "hellaswag": 0.8064,
             "gsm8k": 0.8681},
    "appo": {"IHD": 0.9520, "EHD": 0.7335, "MHD": 0.8550, "natural": 0.9105, "arc_easy": 0.9376, "hellaswag": 0.8172,
             "gsm8k": 0.8825},
    "rs": {"IHD": 0.8325, "EHD": 0.7055, "MHD": 0.7870, "natural": 0.8415, "arc_easy": 0.9261, "hellaswag": 0.8029,
           "gsm8k": 0.8454},
    "ars": {"IHD": 0.9360, "EHD": 0.7400, "MHD": 0.8785, "natural": 0.9170, "arc_easy": 0.9372, "hellaswag": 0.8161,
            "gsm8k": 0.8802},
}
PAPER_B_COLUMNS = {"base": "base", "dpo": "+DPO", "adpo": "+ADPO", "grpo": "+PPO", "appo": "+APPO", "rs": "+RJ",
                   "ars": "+ARJ"}
# paper B's adaptive methods against their unmasked baselines (Table 1: each masked column above its baseline)
MASKED_VS_UNMASKED = (("dpo", "adpo"), ("grpo", "appo"), ("rs", "ars"))


def model_label(name: str) -> str:
    """'base', paper A's Safe-* label, or paper B's method label."""
    from ..align import METHODS
    from ..align.adaptive import PAPER_B_METHODS

    if name == "base":
        return "base"
    for table in (METHODS, PAPER_B_METHODS):
        if name in table:
            return table[name].label
    raise KeyError(f"unknown model {name!r} (paper_b_eval.models): not base, a paper A method or a paper B method")


def policy_backend(profile: str, name: str, settings):
    """The generation backend of a model of paper_b_eval.models (paper B's methods load from their own folders)."""
    from ..align import adaptive
    from .run import model_identity, policy_backend as paper_a_backend

    if name not in adaptive.PAPER_B_METHODS:
        return paper_a_backend(profile, name, settings)
    return backends.make_backend(settings, lambda: adaptive.load_policy(profile, name), model_identity(profile, name, settings),
                                 str(adaptive.policy_dir(profile, name)))


def verdicts_path(profile: str, name: str) -> Path:
    return paths.answers_dir(profile) / "paper_b" / f"{name}.verdicts.jsonl"


def write_verdicts(profile: str, name: str, records: Sequence[dict]) -> Path:
    from .. import io

    return io.write_jsonl(verdicts_path(profile, name), records)


def read_verdicts(profile: str, name: str) -> list[dict]:
    import json

    path = verdicts_path(profile, name)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the stage paper-b-eval-{name}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def paired_safety(records_a: Sequence[dict], records_b: Sequence[dict], benchmark: str, n_boot: int,
                  seed: int) -> dict | None:
    """b − a of the safe rate on the prompts both answered in `benchmark` ('pool:IHD', ..., 'alert'), with a
    paired bootstrap CI and McNemar's exact p (groups: the prompt's source, or its ALERT category)."""
    from ..report.paired import by_occurrence, paired_difference

    key = "category" if benchmark == "alert" else "source"
    a, b = by_occurrence(records_a, benchmark), by_occurrence(records_b, benchmark)
    common = sorted(set(a) & set(b))
    if not common:
        return None
    groups = [a[p][key] for p in common]
    weights = dict(Counter(data.load("alert")["category"])) if benchmark == "alert" else dict(Counter(groups))
    safe_a, safe_b = [a[p]["safe"] for p in common], [b[p]["safe"] for p in common]
    out = paired_difference(safe_a, safe_b, groups, weights, n_boot=n_boot, seed=seed)
    return {**out, **_discordant(safe_a, safe_b), "prompts_a": len(a), "prompts_b": len(b)}


def _discordant(a: Sequence[bool], b: Sequence[bool]) -> dict:
    """The discordant pairs by direction: the prompts only b scores yes on, and only a (McNemar's two cells)."""
    return {"only_b": sum(bool(y) and not x for x, y in zip(a, b)), "only_a": sum(bool(x) and not y for x, y in zip(a, b))}


def paired_indicator(records_a: Sequence[dict], records_b: Sequence[dict], benchmark: str, value, n_boot: int,
                     seed: int) -> dict | None:
    """b − a of a per-answer yes/no measure (`value(record)`: GSM8K correct, an XSTest refusal) on the prompts both
    answered in `benchmark`, with a paired bootstrap CI and McNemar's exact p; None without common prompts."""
    from ..report.paired import by_occurrence, paired_difference

    a = {k: value(r) for k, r in by_occurrence(records_a, benchmark).items()}
    b = {k: value(r) for k, r in by_occurrence(records_b, benchmark).items()}
    common = sorted(set(a) & set(b))
    if not common:
        return None
    out = paired_difference([a[p] for p in common], [b[p] for p in common], [benchmark] * len(common),
                            {benchmark: 1.0}, n_boot=n_boot, seed=seed)
    return {**out, **_discordant([a[p] for p in common], [b[p] for p in common]), "prompts_a": len(a),
            "prompts_b": len(b)}


def refused(record: dict) -> bool:
    """An over-refusal record's yes/no: refused fully or partly (XSTest's rate counts both)."""
    return record["label"] in ("refused", "partial")


def verdict(paired: dict | None, expected_sign: int, alpha: float = 0.05) -> str:
    """The stated rule: 'reproduced' when the paired 95% CI excludes 0 on paper B's side *and* McNemar's exact
    p < alpha, 'contradicted' when both hold on the other side, else 'unresolved' (also without common
    prompts). McNemar guards the tiny pools, where a stratified bootstrap of a few prompts cannot vary; its
    two-sided p counts only on the CI's side: where the CI is weighted (ALERT's categories) and the discordant
    prompts lean the other way, the two disagree and the claim stays unresolved."""
    if paired is None or paired["mcnemar_p"] >= alpha:
        return "unresolved"
    lo, hi = paired["ci95"]
    if "only_b" in paired and (lo > 0 or hi < 0) and (paired["only_b"] > paired["only_a"]) != (lo > 0):
        return "unresolved"
    if (lo > 0 and expected_sign > 0) or (hi < 0 and expected_sign < 0):
        return "reproduced"
    if lo > 0 or hi < 0:
        return "contradicted"
    return "unresolved"


CLAIM_BENCHMARKS = (("pool:IHD", "IHD"), ("pool:EHD", "EHD"), ("pool:MHD", "MHD"), ("alert", "natural"))


def claims(verdicts: Mapping[str, Sequence[dict]], comparisons: Sequence[tuple[str, str]], labels: Mapping[str, str],
           n_boot: int, seed: int) -> list[dict]:
    """Paper B's Table 1 claim "b is safer than a" on every safety row, for each (a, b) of `comparisons` whose
    two models both have verdicts: the paired difference, McNemar's p and the verdict by `verdict`'s rule."""
    paper = PAPER_B_TABLE1
    out = []
    for a, b in comparisons:
        if a not in verdicts or b not in verdicts:
            continue
        for benchmark, row in CLAIM_BENCHMARKS:
            paired = paired_safety(verdicts[a], verdicts[b], benchmark, n_boot, seed)
            # paper A's methods have no column in paper B: the nearest claim it makes is +DPO against the base
            ka, kb = (m if m in paper else "dpo" for m in (a, b))
            stand_in = "" if (ka, kb) == (a, b) else f"no {labels[b] if kb != b else labels[a]} column; nearest: "
            out.append({"claim (paper B, Table 1)": f"{labels[b]} is safer than {labels[a]} on {row}",
                        "paper B": f"{stand_in}{paper[kb][row] - paper[ka][row]:+.3f} "
                                   f"({PAPER_B_COLUMNS[kb]} − {PAPER_B_COLUMNS[ka]})",
                        "ours": "—" if paired is None else
                        f"{paired['difference']:+.3f} [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}]",
                        "McNemar p": None if paired is None else paired["mcnemar_p"],
                        "n": 0 if paired is None else paired["n"], "verdict": verdict(paired, +1)})
    return out


def claims_against_base(verdicts: Mapping[str, Sequence[dict]], labels: Mapping[str, str], n_boot: int,
                        seed: int) -> list[dict]:
    """Every aligned model of `verdicts` against "base" (paper B: +DPO above the base on every safety row)."""
    return claims(verdicts, [("base", m) for m in verdicts if m != "base"], labels, n_boot, seed)


def with_holm(claims: Sequence[dict]) -> list[dict]:
    """The claims with a "Holm p" column: McNemar's p adjusted over every tested claim of the table (Holm), so a
    reader sees which verdicts survive the many comparisons; the verdicts themselves keep the stated rule."""
    adjusted = holm([c.get("McNemar p") for c in claims])
    return [{**c, "Holm p": p} for c, p in zip(claims, adjusted)]


def proportion_interval(value: float | None, n: int | None) -> list[float] | None:
    """Wilson 95% interval of a rate over n items (GSM8K exact match, a multiple-choice accuracy): valid where a
    135M model scores 0 and mean ± 1.96 stderr collapses to [0, 0]."""
    if value is None or not n:
        return None
    return wilson_interval(int(round(value * n)), n)


def summary_rows(result: Mapping) -> list[dict]:
    """One row per measure of evaluate_policy's result, each with its 95% interval and n."""
    def row(measure, m):
        return {"measure": measure, "value": m.get("score", m.get("rate")), "ci95": m.get("ci95"), "n": m.get("n")}

    rows = [row(f"safety {t}", m) for t, m in result["safety_by_type"].items()]
    rows += [row("ALERT S (natural)", result["alert_s"]), row("over-refusal XSTest safe", result["over_refusal"]["xstest_safe"]),
             row("over-refusal CoCoNot contrast", result["over_refusal"]["coconot_contrast"])]
    for task, m in result["general"].items():
        metric = m.get("metric", "exact_match")
        rows.append({"measure": f"{task} {metric}", "value": m[metric], "ci95": proportion_interval(m[metric], m["n"]),
                     "n": m["n"]})
    return rows


def caveats(settings) -> list[str]:
    """What bounds paper B's verdicts here, read from the results: the harm judge's measured agreement with human
    labels and the harm-type labeller's checked numbers against its floors."""
    from .. import io
    from ..judges import agreement
    from ..report.tables import agreement_line

    lines = [agreement_line(agreement(settings))]
    try:
        checked = io.read_result(settings.name, "harm_types")["harmtype_validation"]
    except FileNotFoundError:
        return lines + ["Harm-type labeller: not checked yet (run the harm-types stage)."]
    names = {"intent_xstest_accuracy": "intent accuracy on XSTest", "safe_flagged_rate": "XSTest safe prompts flagged",
             "explicit_auc": "explicit-content ROC-AUC on the OpenAI moderation labels"}
    missed = [k for k, met in checked["floor_met"].items() if not met]
    lines.append("Harm-type labeller: " + "; ".join(
        f"{names[k]} {checked[k]:.3f} (floor {'≤' if k == 'safe_flagged_rate' else '≥'} {checked['floors'][k]})"
        for k in names) + (f". It misses {len(missed)} of its 3 floors, so a type is the labeller's call, not a "
                           "validated one: per-type verdicts say where a method acts on the prompts it typed."
                           if missed else ". It meets its floors."))
    return lines


# paper B's Table 1 rows that ours has too: our row name -> paper B's key
TABLE1_ROWS = {"safety IHD": "IHD", "safety EHD": "EHD", "safety MHD": "MHD", "safety natural (ALERT S)": "natural",
               "arc_easy (acc)": "arc_easy", "hellaswag (acc_norm)": "hellaswag", "gsm8k (exact_match)": "gsm8k"}


def _cell(value, ci=None, n=None) -> str:
    if value is None:
        return "—" + (f" (n={n})" if n is not None else "")
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") + (f" (n={n})" if n is not None else "")


def table1(results: Mapping[str, dict], labels: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Paper B's Table 1 side by side: a column per model of ours (every measure with its 95% interval and n) and
    per column of paper B's Table 1 (its numbers on the rows ours has too)."""
    columns = {}
    for m, r in results.items():
        col = {f"safety {t}": _cell(v["score"], v["ci95"], v["n"]) for t, v in r["safety_by_type"].items()}
        col["safety natural (ALERT S)"] = _cell(r["alert_s"]["score"], r["alert_s"]["ci95"], r["alert_s"]["n"])
        for name, key in (("XSTest safe", "xstest_safe"), ("CoCoNot contrast", "coconot_contrast")):
            o = r["over_refusal"][key]
            col[f"over-refusal {name}"] = _cell(o["rate"], o["ci95"], o["n"])
        for task, g in r["general"].items():
            metric = g.get("metric", "exact_match")
            col[f"{task} ({metric})"] = _cell(g[metric], proportion_interval(g[metric], g["n"]), g["n"])
        d = r["diversity"]
        col["distinct-2 of safe answers (all)"] = _cell(d["distinct_2"], d.get("distinct_2_ci95"), d["safe_answers"])
        col["templated refusals (all)"] = _cell(d["templated_refusal_share"], d.get("templated_refusal_share_ci95"),
                                               d["refusals"])
        for name, key in (("distinct-2 of safe answers", "distinct_2_rarefied"),
                          ("templated refusals", "templated_refusal_share_rarefied")):
            size = matched_size([other["diversity"].get(key, {}) for other in results.values()])
            col[f"{name} (at {size} per model)" if size else f"{name} (at a common size)"] = (
                _cell(d[key][size]) if size else "— (some model has fewer than 2)")
        columns[f"ours: {labels[m]}"] = col
    for m, numbers in PAPER_B_TABLE1.items():
        columns[f"paper B: {PAPER_B_COLUMNS[m]}"] = {row: _cell(numbers[key]) for row, key in TABLE1_ROWS.items()}
    return columns
