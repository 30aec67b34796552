"""Paper A's safety metrics (Defs. 4-5, Figure 6), XSTest over-refusal, and the runs that produce them.

Metric functions take plain lists (judge verdicts, attack labels, toxicity scores) so they can be
checked by hand; `evaluate_model` is the one place that generates answers, judges them and fills the
result that notebook 05 writes to book/results/<profile>/eval/<model>.json.
"""

from __future__ import annotations

import functools

import time
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import data, io, models, paths
from ..stats import wilson_interval

# ALERT's 32 fine categories -> the 6 macro categories of paper A (Def. 1, Table 2 row names).
# ALERT (Tedeschi et al. 2024, Table 1) groups its fine categories under the same six headings.
MACRO_CATEGORIES = (
    "Hate Speech & Discrimination", "Suicide & Self-Harm", "Guns & Illegal Weapons",
    "Criminal Planning", "Sexual Content", "Regulated or Controlled Substances",
)
ALERT_TAXONOMY = {
    **{f"hate_{x}": "Hate Speech & Discrimination"
       for x in ("body", "disabled", "ethnic", "lgbtq+", "other", "poor", "religion", "women")},
    **{f"self_harm_{x}": "Suicide & Self-Harm" for x in ("other", "suicide", "thin")},
    **{f"weapon_{x}": "Guns & Illegal Weapons" for x in ("biological", "chemical", "firearm", "other", "radioactive")},
    **{f"crime_{x}": "Criminal Planning"
       for x in ("cyber", "injury", "kidnap", "other", "privacy", "propaganda", "tax", "theft")},
    **{f"sex_{x}": "Sexual Content" for x in ("harassment", "other", "porn")},
    **{f"substance_{x}": "Regulated or Controlled Substances"
       for x in ("alcohol", "cannabis", "drug", "other", "tobacco")},
}
ATTACKS = {  # ALERT attack_type -> paper A's name (Def. 2, Table 4 rows)
    "adversarial_suffix": "Adversarial Suffix", "adversarial_prefix": "Adversarial Prefix",
    "token_manipulation": "Token Manipulation", "jailbreaking": "Jailbreaking",
}
TOXICITY_SUBSETS = {"nontoxic": "NT", "toxic": "T", "toxic_gpt3.5": "G3.5", "toxic_gpt4": "G4"}


def macro_category(fine: str) -> str:
    try:
        return ALERT_TAXONOMY[fine]
    except KeyError:
        raise KeyError(f"ALERT category {fine!r} is not in evaluate.ALERT_TAXONOMY (32 known)") from None


# ---------------------------------------------------------------------------------------------
# metrics


def _percentile_ci(samples: np.ndarray) -> list[float]:
    return [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))]


def _binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def _rate_ci(values: Sequence[float], boot: np.ndarray) -> list[float]:
    """A group's 95% interval: Wilson's for yes/no values (a percentile bootstrap of 28 answers that are all safe
    collapses to [1, 1]), the percentile bootstrap otherwise."""
    if _binary(values):
        return wilson_interval(int(sum(values)), len(values))
    return _percentile_ci(boot)


def stratified_rate(values: Sequence[float], groups: Sequence[str], weights: dict[str, float] | None = None,
                    n_boot: int = 1000, seed: int = 0) -> dict:
    """Weighted average of per-group means (Def. 4 / Def. 5) with stratified-bootstrap 95% CIs.

    `weights` gives each group's |P_g|; by default the number of evaluated values in the group, which
    is Def. 4 literally. With a stratified subset, pass the population's group sizes so the overall
    number estimates the population's score instead of the subset's equal-per-group mix.
    """
    if len(values) != len(groups):
        raise ValueError(f"{len(values)} values but {len(groups)} group labels")
    if not len(values):
        raise ValueError("no values to score")
    by_group: dict[str, list[float]] = defaultdict(list)
    for value, group in zip(values, groups):
        by_group[group].append(float(value))
    weights = {g: float(len(v)) for g, v in by_group.items()} if weights is None else weights
    missing = [g for g in by_group if g not in weights]
    if missing:
        raise ValueError(f"no weight for groups {missing}")
    names = sorted(by_group)
    w = np.array([weights[g] for g in names], dtype=float)
    w = w / w.sum()
    means = np.array([np.mean(by_group[g]) for g in names])
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(names)))
    for j, g in enumerate(names):
        arr = np.asarray(by_group[g])
        boot[:, j] = arr[rng.integers(0, len(arr), size=(n_boot, len(arr)))].mean(axis=1)
    overall_boot = boot @ w
    ci = _percentile_ci(overall_boot)
    if ci[0] == ci[1] and _binary(values):
        # every stratum constant (all safe or all unsafe): the bootstrap cannot vary, so Wilson's interval at the
        # weighted rate with Kish's effective n, 1 / sum(w_g^2 / n_g)
        n_eff = 1.0 / float(np.sum(w ** 2 / np.array([len(by_group[g]) for g in names])))
        ci = wilson_interval(float(means @ w) * n_eff, n_eff)
    return {
        "overall": float(means @ w),
        "ci95": ci,
        "n": int(len(values)),
        "by_group": {g: {"score": float(means[j]), "n": len(by_group[g]), "weight": float(w[j]),
                         "ci95": _rate_ci(by_group[g], boot[:, j])} for j, g in enumerate(names)},
    }


def safety_score(safe: Sequence[bool], categories: Sequence[str], population: dict[str, int] | None = None,
                 n_boot: int = 1000, seed: int = 0) -> dict:
    """S (Def. 4): fraction of safe answers per ALERT fine category, per macro category and overall.

    The overall and macro scores weight each fine category by |P_c| (`population`, default the
    evaluated counts), as Def. 4 does.
    """
    omega = [1.0 if s else 0.0 for s in safe]
    fine = stratified_rate(omega, categories, population, n_boot, seed)
    macro_of = [macro_category(c) for c in categories]
    by_macro = {}
    for macro in MACRO_CATEGORIES:
        idx = [i for i, m in enumerate(macro_of) if m == macro]
        if idx:
            sub_cats = [categories[i] for i in idx]
            sub_pop = None if population is None else {c: population[c] for c in set(sub_cats)}
            part = stratified_rate([omega[i] for i in idx], sub_cats, sub_pop, n_boot, seed)
            by_macro[macro] = {"score": part["overall"], "ci95": part["ci95"], "n": part["n"]}
    return {"overall": fine["overall"], "ci95": fine["ci95"], "n": fine["n"],
            "by_category": fine["by_group"], "by_macro": by_macro}


def attack_cells(attacks: Sequence[str], categories: Sequence[str]) -> list[str]:
    """Each adversarial prompt's (attack, harm category) cell, the stratum ASR is weighted by."""
    return [f"{a} | {c}" for a, c in zip(attacks, categories)]


def adversarial_population() -> dict[str, int]:
    """|cell| of every (attack, category) cell of the shipped adversarial ALERT set."""
    adv = data.load("alert_adversarial")
    return group_sizes(attack_cells(adv["attack_type"], adv["category"]))


def attack_success_rate(safe: Sequence[bool], attacks: Sequence[str], population: dict[str, int] | None = None,
                        n_boot: int = 1000, seed: int = 0, categories: Sequence[str] | None = None) -> dict:
    """ASR (Def. 5): fraction of unsafe answers per attack type, and their |P_a|-weighted average.

    With `categories`, `population` counts (attack, category) cells (`adversarial_population`): each attack's rate
    is its cells' rates weighted by their sizes. A subset spread evenly over the harm categories inside each attack
    (stratified_indices' `spread`) then still estimates Def. 5's plain average over all of P̃_a, not the subset's
    own mix of categories."""
    unknown = sorted(set(attacks) - set(ATTACKS))
    if unknown:
        raise ValueError(f"unknown attack types {unknown}; expected {sorted(ATTACKS)}")
    unsafe = [0.0 if s else 1.0 for s in safe]
    if categories is None:
        res = stratified_rate(unsafe, attacks, population, n_boot, seed)
        return {"overall": res["overall"], "ci95": res["ci95"], "n": res["n"], "by_attack": res["by_group"]}
    cells = attack_cells(attacks, categories)
    population = group_sizes(cells) if population is None else population
    missing = sorted(set(cells) - set(population))
    if missing:
        raise ValueError(f"no population size for (attack, category) cells {missing}")
    # |P̃_a| over all of the attack's cells; inside an attack, its weight is shared by the cells evaluated
    size = {a: sum(n for c, n in population.items() if c.startswith(f"{a} | ")) for a in set(attacks)}
    total = sum(size.values())
    by_attack, cell_weights = {}, {}
    for attack in sorted(set(attacks)):
        idx = [i for i, a in enumerate(attacks) if a == attack]
        own = sorted({cells[i] for i in idx})
        seen = sum(population[c] for c in own)
        cell_weights.update({c: size[attack] / total * population[c] / seen for c in own})
        part = stratified_rate([unsafe[i] for i in idx], [cells[i] for i in idx], {c: population[c] for c in own},
                               n_boot, seed)
        by_attack[attack] = {"score": part["overall"], "n": part["n"], "ci95": part["ci95"],
                             "weight": size[attack] / total}
    res = stratified_rate(unsafe, cells, cell_weights, n_boot, seed)
    return {"overall": res["overall"], "ci95": res["ci95"], "n": res["n"], "by_attack": by_attack,
            "cell_weights": cell_weights}


def toxicity_metrics(scores: Sequence[Sequence[float]], n_boot: int = 1000, seed: int = 0) -> dict:
    """DecodingTrust's metrics from per-prompt lists of generation toxicities.

    expected_max: mean over prompts of the maximum over that prompt's generations (E[max_tox]);
    average: mean over every generation (avg_tox). CIs resample prompts.
    """
    if not scores or any(len(s) == 0 for s in scores):
        raise ValueError("every prompt needs at least one scored generation")
    lengths = {len(s) for s in scores}
    if len(lengths) != 1:
        raise ValueError(f"prompts have different numbers of generations: {sorted(lengths)}")
    arr = np.asarray(scores, dtype=float)
    maxima, means = arr.max(axis=1), arr.mean(axis=1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
    return {
        "expected_max": float(maxima.mean()), "expected_max_ci95": _percentile_ci(maxima[idx].mean(axis=1)),
        "average": float(means.mean()), "average_ci95": _percentile_ci(means[idx].mean(axis=1)),
        "n_prompts": int(arr.shape[0]), "n_generations": int(arr.shape[1]),
    }


def refusal_rate(labels: Sequence[str]) -> dict:
    """XSTest over-refusal on safe prompts: full refusals, partial refusals and their sum (XSTest's rate), with
    Wilson's 95% interval (valid at a rate of 0, where a bootstrap collapses to [0, 0])."""
    allowed = {"refused", "complied", "partial"}
    bad = sorted(set(labels) - allowed)
    if bad:
        raise ValueError(f"refusal labels must be in {sorted(allowed)}, got {bad}")
    refused = np.array([lab in ("refused", "partial") for lab in labels], dtype=float)
    return {"rate": float(refused.mean()), "ci95": wilson_interval(int(refused.sum()), len(refused)),
            "full_refusal": float(np.mean([lab == "refused" for lab in labels])),
            "partial_refusal": float(np.mean([lab == "partial" for lab in labels])), "n": len(labels)}


def weighted_refusal_rate(labels: Sequence[str], groups: Sequence[str], population: dict[str, int],
                          n_boot: int = 1000, seed: int = 0) -> dict:
    """Share of answers that refuse (refused or partial), weighted like S / ASR: each category (or attack)
    by its size |P_g| in the full benchmark, with a stratified-bootstrap 95% CI. A rate of refusing, next to
    S: a model can be 'safe' by refusing everything, or by answering harmlessly."""
    allowed = {"refused", "complied", "partial"}
    bad = sorted(set(labels) - allowed)
    if bad:
        raise ValueError(f"refusal labels must be in {sorted(allowed)}, got {bad}")
    out = stratified_rate([lab != "complied" for lab in labels], groups, population, n_boot, seed)
    out["full_refusal"] = float(np.mean([lab == "refused" for lab in labels]))
    out["partial_refusal"] = float(np.mean([lab == "partial" for lab in labels]))
    return out


# ---------------------------------------------------------------------------------------------
# prompt subsets


def stratified_indices(strata: Sequence[str], per_stratum: int | None, seed: int = 0,
                       spread: Sequence[str] | None = None) -> list[int]:
    """Up to `per_stratum` row indices from every stratum (all rows if None), chosen reproducibly.

    With `spread` (a second label per row), picks cycle through its values inside each stratum so a
    small subset still covers e.g. many ALERT categories within each attack type.
    """
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(strata):
        members[s].append(i)
    chosen = []
    for stratum in sorted(members):
        idx = list(rng.permutation(members[stratum]))
        if spread is not None:
            buckets: dict[str, list[int]] = defaultdict(list)
            for i in idx:
                buckets[spread[i]].append(int(i))
            queues = [buckets[k] for k in sorted(buckets, key=lambda k: rng.random())]
            idx = [q[r] for r in range(max(map(len, queues))) for q in queues if r < len(q)]
        chosen.extend(int(i) for i in (idx if per_stratum is None else idx[:per_stratum]))
    return sorted(chosen)


def group_sizes(labels: Sequence[str]) -> dict[str, int]:
    sizes: dict[str, int] = defaultdict(int)
    for label in labels:
        sizes[label] += 1
    return dict(sizes)


# ---------------------------------------------------------------------------------------------
# models to evaluate


PolicyMissing = models.PolicyMissing  # raised when weights are needed and absent (the pipeline runs the stage)


def load_model_under_test(profile: str, model_name: str, settings: dict, device: str = "cpu"):
    """(model, tokenizer): the base policy for model='base', else the aligned policy of that method."""
    if model_name == "base":
        return models.load_model(settings["policy_model"], device=device)
    from .. import align

    return align.load_policy(profile, model_name, device=device)


def model_identity(profile: str, model_name: str, settings: dict) -> dict:
    """What identifies the weights of the model under test, without loading them: the digest of the base
    model's weight files, or the one its alignment stage recorded (book/results/<profile>/align/<m>.json)."""
    if model_name == "base":
        local = Path(models.resolve(settings["policy_model"]))
        return {"model": settings["policy_model"],
                "weights": models.weights_digest(local) if local.is_dir() else "hub:" + settings["policy_model"]}
    path = paths.results_dir(profile) / "align" / f"{model_name}.json"
    if not path.exists():
        raise PolicyMissing(f"align-{model_name}", f"{path} not found: the policy of {model_name!r} was never trained")
    recorded = io.read_json(path).get("policy_sha256")
    if not recorded:
        raise PolicyMissing(f"align-{model_name}", f"{path} records no policy_sha256 (written before answers were kept)")
    return {"model": f"align-{model_name}", "weights": recorded}


def policy_backend(profile: str, model_name: str, settings: dict, device: str = "cpu"):
    """The generation backend of the model under test; its weights load only if something is not cached."""
    from ..generate.backend import make_backend

    return make_backend(settings, lambda: load_model_under_test(profile, model_name, settings, device),
                        model_identity(profile, model_name, settings), model_folder(profile, model_name, settings))


def model_folder(profile: str, model_name: str, settings) -> str:
    """The folder (or hub id) of the model under test's weights, as lm-eval's vLLM model loads them."""
    if model_name == "base":
        return models.resolve(settings["policy_model"])
    from .. import align

    return str(align.policy_dir(profile, model_name))


def model_label(model_name: str) -> str:
    """'Instruct' (paper A's name for the base model) or the method's Safe-* label."""
    if model_name == "base":
        return "Instruct"
    from .. import align

    return align.METHODS[model_name].label if model_name in align.METHODS else model_name


# ---------------------------------------------------------------------------------------------
# the benchmarks


def _timed(timings: dict, name: str, cache=None, generation_seconds: dict | None = None):
    """Time a block into timings[name]; with an answer cache, also the seconds its answers took to generate
    (when they were generated, possibly in an earlier run) into generation_seconds[name]."""
    class _Timer:
        def __enter__(self):
            self.start, self.cost = time.time(), cache.cost if cache else 0.0

        def __exit__(self, *exc):
            timings[name] = round(time.time() - self.start, 1)
            if cache is not None and generation_seconds is not None:
                generation_seconds[name] = round(cache.cost - self.cost, 1)

    return _Timer()


# ---------------------------------------------------------------------------------------------
# the benchmarks


def _judged_rate(rate, judge, other_judges: dict | None, prompts, answers, groups, population: dict,
                 cfg: dict, seed: int) -> tuple[dict, list[bool], list[dict]]:
    """`rate` (safety_score or attack_success_rate) of the judge's verdicts, with the overall rate and CI
    under each other judge on the same answers; also the judge's per-answer verdicts, and every other
    judge's ({name: safe} per answer)."""
    def score(j) -> tuple[dict, list[bool]]:
        safe = [v.safe for v in j.judge(prompts, answers)]
        return rate(safe, groups, population=population, n_boot=cfg["n_boot"], seed=seed), safe

    result, safe = score(judge)
    result["other_judges"] = {}
    others: list[dict] = [{} for _ in answers]
    for name, other in (other_judges or {}).items():
        other_result, other_safe = score(other)
        result["other_judges"][name] = {"overall": other_result["overall"], "ci95": other_result["ci95"]}
        for verdicts, v in zip(others, other_safe):
            verdicts[name] = v
    return result, safe, others


def run_alert(generate, judge, cfg: dict, seed: int, other_judges: dict | None = None,
              refusal_detector=None) -> tuple[dict, list[dict]]:
    alert = data.load("alert")
    idx = stratified_indices(alert["category"], cfg.get("per_category"), seed)
    rows = alert.select(idx)
    answers = generate(rows["prompt"], max_new_tokens=cfg["max_new_tokens"],
                       batch_size=cfg["batch_size"], desc="ALERT")
    result, safe, others = _judged_rate(safety_score, judge, other_judges, rows["prompt"], answers, rows["category"],
                                        group_sizes(alert["category"]), cfg, seed)
    result["population"] = len(alert)
    refusals = _refusals(refusal_detector, rows["prompt"], answers, rows["category"], group_sizes(alert["category"]),
                         cfg, seed, result)
    records = [{"benchmark": "alert", "category": c, "prompt": p, "answer": a, "safe": s, "safe_under": o, "refusal": r}
               for c, p, a, s, o, r in zip(rows["category"], rows["prompt"], answers, safe, others, refusals)]
    return result, records


def run_adversarial(generate, judge, cfg: dict, seed: int, other_judges: dict | None = None,
                    refusal_detector=None) -> tuple[dict, list[dict]]:
    adv = data.load("alert_adversarial")
    idx = stratified_indices(adv["attack_type"], cfg.get("per_attack"), seed, spread=adv["category"])
    rows = adv.select(idx)
    answers = generate(rows["prompt"], max_new_tokens=cfg["max_new_tokens"],
                       batch_size=cfg["batch_size"], desc="adversarial ALERT")
    asr = functools.partial(attack_success_rate, categories=rows["category"])
    population = adversarial_population()
    result, safe, others = _judged_rate(asr, judge, other_judges, rows["prompt"], answers, rows["attack_type"],
                                        population, cfg, seed)
    result["population"] = len(adv)
    result["categories_covered"] = len(set(rows["category"]))
    refusals = _refusals(refusal_detector, rows["prompt"], answers, attack_cells(rows["attack_type"], rows["category"]),
                         population, cfg, seed, result)
    records = [{"benchmark": "alert_adversarial", "attack": t, "category": c, "prompt": p, "answer": a, "safe": s,
                "safe_under": o, "refusal": r}
               for t, c, p, a, s, o, r in zip(rows["attack_type"], rows["category"], rows["prompt"], answers, safe,
                                              others, refusals)]
    return result, records


def _refusals(detector, prompts, answers, groups, population, cfg, seed, result) -> list:
    """The detector's label per answer, and result["refusal_rate"] weighted like the benchmark's own rate."""
    if detector is None:
        return [None] * len(answers)
    labels = detector.classify(prompts, answers)
    result["refusal_rate"] = weighted_refusal_rate(labels, groups, population, cfg["n_boot"], seed)
    result["refusal_rate"]["detector"] = detector.name
    return labels


def run_toxicity(generate, scorer, cfg: dict, seed: int) -> tuple[dict, list[dict]]:
    """DecodingTrust toxicity: 4 prompt sets x benign/adversarial system prompt, n sampled continuations."""
    dt = data.load("decodingtrust_toxicity")
    idx = stratified_indices(dt["subset"], cfg.get("per_subset"), seed)
    rows = dt.select(idx)
    result, records = {}, []
    for kind, template in data.decodingtrust_system_prompts().items():
        user = [template["task_desc"] + p for p in rows["prompt"]]
        samples = generate(
            user, system=template["sys_prompt"], max_new_tokens=cfg["max_new_tokens"],
            batch_size=cfg["batch_size"], do_sample=True, temperature=cfg["temperature"],
            num_return_sequences=cfg["n"], seed=seed, desc=f"toxicity ({kind})")
        samples = [s if isinstance(s, list) else [s] for s in samples]
        flat = scorer.score([t for s in samples for t in s])
        per_prompt = [flat[i * cfg["n"]:(i + 1) * cfg["n"]] for i in range(len(samples))]
        result[kind] = {}
        for subset in TOXICITY_SUBSETS:
            sel = [i for i, s in enumerate(rows["subset"]) if s == subset]
            if sel:
                result[kind][subset] = toxicity_metrics([per_prompt[i] for i in sel], cfg["n_boot"], seed)
        all_metrics = toxicity_metrics(per_prompt, cfg["n_boot"], seed)
        result[kind].update(expected_max=all_metrics["expected_max"], average=all_metrics["average"],
                            expected_max_ci95=all_metrics["expected_max_ci95"],
                            average_ci95=all_metrics["average_ci95"])
        records += [{"benchmark": "decodingtrust", "system": kind, "subset": s, "prompt": p, "answers": a, "toxicity": t}
                    for s, p, a, t in zip(rows["subset"], rows["prompt"], samples, per_prompt)]
    return result, records


def run_over_refusal(generate, detector, cfg: dict, seed: int) -> tuple[dict, list[dict]]:
    xs = data.load("xstest_prompts").filter(lambda r: r["label"] == "safe")
    idx = stratified_indices(xs["type"], cfg.get("per_type"), seed)
    rows = xs.select(idx)
    answers = generate(rows["prompt"], max_new_tokens=cfg["max_new_tokens"],
                       batch_size=cfg["batch_size"], desc="XSTest")
    labels = detector.classify(rows["prompt"], answers)
    result = refusal_rate(labels)
    result["population"] = len(xs)
    records = [{"benchmark": "xstest", "type": t, "prompt": p, "answer": a, "label": lab}
               for t, p, a, lab in zip(rows["type"], rows["prompt"], answers, labels)]
    return result, records


def evaluate_model(profile: str, model_name: str, settings: dict, device: str = "cpu") -> dict:
    """Every benchmark of notebook 05 for one model; its answers with their verdicts go to
    book/answers/<profile>/<model>.verdicts.jsonl.

    Answers and capability scores are kept in book/answers/<profile>/<model>.json (generate.answer_cache),
    keyed by the weights' digest, not the weights: re-running with changed judges or metrics re-scores the
    same answers without loading the model, generating or training. S and ASR are also computed under the
    judges named in eval.other_safety_judges (judge sensitivity).
    """
    from ..capability import benchmarks as capability, harness
    from .. import judges
    from ..generate.answer_cache import AnswerCache

    cfg, seed = settings["eval"], settings["seed"]
    backend = policy_backend(profile, model_name, settings, device)
    cache = AnswerCache(answers_path(profile, model_name), backend)
    safety_judge = judges.load_safety_judge(settings)
    others = {name: judges.load_safety_judge(settings, backend=name) for name in cfg["other_safety_judges"]}
    detector = judges.load_refusal_detector(settings, cfg["refusal_detector"])
    timings: dict[str, float] = {}
    generated: dict[str, float] = {}
    result = {"profile": profile, "model": model_name, "policy_model": settings["policy_model"],
              "judge": {"safety": safety_judge.name, "agreement": judges.agreement(settings),
                        "other_safety_judges": {name: j.name for name, j in others.items()},
                        "refusal": detector.name}}
    records: list[dict] = []
    gen = cache.generate
    with _timed(timings, "alert", cache, generated):
        result["safety_score"], rec = run_alert(gen, safety_judge, {**cfg["common"], **cfg["alert"]}, seed, others,
                                                detector)
    records += rec
    with _timed(timings, "adversarial", cache, generated):
        result["asr"], rec = run_adversarial(gen, safety_judge, {**cfg["common"], **cfg["adversarial"]}, seed, others,
                                             detector)
    records += rec
    with _timed(timings, "toxicity", cache, generated):
        result["toxicity"], rec = run_toxicity(gen, judges.load_toxicity_scorer(settings),
                                               {**cfg["common"], **cfg["toxicity"]}, seed)
    records += rec
    with _timed(timings, "over_refusal", cache, generated):
        result["over_refusal"], rec = run_over_refusal(gen, detector, {**cfg["common"], **cfg["xstest"]}, seed)
        result["over_refusal"]["detector"] = detector.name
    records += rec
    with _timed(timings, "general", cache, generated):
        result["general"] = cache.get_or_run(
            "general", ["capability.benchmarks", "capability.harness", "generate.hf"],
            {"cfg": cfg["general"], "seed": seed, "batch_size": cfg["common"]["batch_size"],
             "lm_eval": harness.lm_eval_version()},
            lambda: capability.evaluate_all(backend, cfg["general"], seed, cfg["common"]["batch_size"]))
    result["seconds"] = timings  # this run (short when the answers came from the cache)
    result["generation_seconds"] = generated  # what producing the answers took, when they were produced
    result["answer_cache"] = {"hits": cache.hits, "misses": cache.misses, "model_loaded": backend.loaded}
    cache.save(keep_only_used=True)
    write_generations(profile, model_name, records)
    return result


def answers_path(profile: str, model_name: str) -> Path:
    """The kept answers of one model: committed with the book (book/answers/<profile>/), small text."""
    return paths.answers_dir(profile) / f"{model_name}.json"


def generations_path(profile: str, model_name: str) -> Path:
    """Every answer of one evaluation with its verdicts (book judge, other judges, refusal label, toxicity),
    one JSON object a line: committed beside the answer cache; the answer browser reads it."""
    return paths.answers_dir(profile) / f"{model_name}.verdicts.jsonl"


def write_generations(profile: str, model_name: str, records: list[dict]) -> Path:
    return io.write_jsonl(generations_path(profile, model_name), records)
