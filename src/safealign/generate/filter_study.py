"""Paper B §4.3 measured: harmful-token filtering at decoding, with and without, on the same prompts.

For notebooks/08_filtering.ipynb (stage `filtering`; profile section `filtering`). Each setting is a
generation backend whose logits processor is named by everything that decides its answers — the store's
version and digest, k, max_k and w — so the answer cache (book/answers/<profile>/filtering/) keeps every
setting's answers apart and a re-run re-scores without generating:

    off             plain greedy (the evaluation chapter's decoding)
    store           Algorithm 1: candidates completing a stored entity are removed (w = 0)
    store+reward    Algorithm 1 with eq. 14's w · r_safety, r = the lexical token reward
                    (judges.token_reward, trained on toxic-spans train only; never the book's judge)

Per setting: ALERT S (Def. 4, the harm judge), safety per harm type on the type pools' held-out test prompts
(stage type-pools; the paper-B evaluation's rule, EHD included) and of the ALERT prompts by their labels,
over-refusal on XSTest's safe prompts, GSM8K exact match (a generation task: the filter acts on it;
log-likelihood tasks cannot change under a decoding filter), generation seconds per new token as recorded,
and paired differences against `off` (same prompts: McNemar and a paired bootstrap). Per-token latency
against `off` is measured apart, on answers forced to one length (`fixed_length_latency`): the recorded
timings cover answers of different lengths, so their ratio is not a like-for-like cost.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .. import data, models, paths, runtime
from ..profiles import Section, section
from . import backend as backends
from .answer_cache import AnswerCache
from .filtering import RiskFilter

SETTINGS = ("off", "store", "store+reward")

# paper B §4.3 (its ADPO model with and without the filter, online A/B test): natural safety and precision
PAPER_B = {"natural_safety": {"off": 0.902, "filtered": 0.967}, "precision": {"off": 0.5185, "filtered": 0.5180}}


@section
class LatencySettings(Section):
    prompts: int               # ALERT prompts of the evaluation, answered under each setting
    new_tokens: int            # every answer forced to this many tokens
    repeats: int               # timed rounds; the settings' order alternates from round to round, medians reported


@section
class FilterSettings(Section):
    """profiles.yaml section `filtering` (a wing section: stage `filtering` reads it)."""
    store: str | None          # a risk-store SQLite file; None = runs/<profile>/risk/store.sqlite, seeded on first use
    models: list[str]          # models filtered: "base" and aligned methods
    k: int                     # candidates rescored per step
    max_k: int                 # k is widened x4 up to this when every candidate is forbidden
    weight: float              # w of the store+reward setting (eq. 14)
    sweep_weights: list[float]  # w sweep (k fixed), first model, ALERT only
    sweep_k: list[int]         # k sweep (w = sweep_k_weight), first model, ALERT only
    sweep_k_weight: float      # w of the k sweep: at a small w the top-k rescoring rarely changes the argmax
    alert_per_category: int | None  # ALERT prompts per fine category under every setting (None = all)
    gsm8k: int                 # GSM8K test items for the general-ability check
    gsm8k_max_new_tokens: int
    per_type: int | None       # type-pool test prompts per harm type (None = the whole test pool)
    latency: LatencySettings   # the fixed-length latency measurement


def store_path(settings) -> Path:
    name = settings.filtering.store
    if name is None:
        return paths.run_dir(settings.name, "risk") / "store.sqlite"
    path = Path(name)
    return path if path.is_absolute() else paths.REPO_ROOT / path


def store_record(settings, store, stats: dict) -> dict:
    """The store's state for a result file; its path relative to the repository when it lies inside it."""
    path = store_path(settings)
    shown = path.relative_to(paths.REPO_ROOT) if path.is_relative_to(paths.REPO_ROOT) else path
    return {"version": store.version(), "digest": store.digest(), "stats": stats, "path": str(shown)}


def open_store(settings):
    """The profile's risk store; a missing default store is created with the documented seed (version 1)."""
    from ..risk import RiskStore
    from ..risk.seed import shipped_seed_rows

    path = store_path(settings)
    if not path.exists() and settings.filtering.store is not None:
        raise FileNotFoundError(f"filtering.store of profile {settings.name!r} names {path}, which does not exist "
                                f"(create it with `safealign-risk --db {path} seed`)")
    store = RiskStore(path)
    if store.version() == 0:
        store.import_rows(shipped_seed_rows()[0], where="seed", skip_existing=True, action="seed")
    return store


@lru_cache(maxsize=4)
def lexical_reward(tokenizer_name: str):
    from ..judges.token_reward import LexicalTokenReward

    rows = [r for r in data.load("toxic_spans") if r["split"] == "train"]
    return LexicalTokenReward(models.load_tokenizer(tokenizer_name), rows)


def processor_name(store, k: int, max_k: int, weight: float, reward_identity: dict | None = None) -> str:
    """Everything that decides the filtered answers besides the filter's code (generate.filtering, whose
    digest the backend identity adds): the store's version and content, k, max_k, w and the reward."""
    reward = f",reward={reward_identity['reward']}:{reward_identity['table']}" if reward_identity else ""
    return f"risk_filter[store=v{store.version()}:{store.digest()[:12]},k={k},max_k={max_k},w={weight:g}{reward}]"


def make_filter(settings, store, tokenizer, k: int, weight: float, **options) -> RiskFilter:
    """Algorithm 1 over the store at (k, w), with the lexical reward when w > 0."""
    reward = lexical_reward(settings.policy_model) if weight else None
    return RiskFilter(tokenizer, store.matcher(), k=k, weight=weight, reward=reward, max_k=settings.filtering.max_k,
                      **options)


def register(settings, store, k: int, weight: float) -> str:
    """Register the filter setting as a logits processor of every backend; returns its name."""
    reward = lexical_reward(settings.policy_model) if weight else None
    name = processor_name(store, k, settings.filtering.max_k, weight, reward.identity if reward else None)

    def build(tokenizer, _settings):
        return make_filter(settings, store, tokenizer, k, weight)

    backends.register_processor(name, "generate.filtering", build)
    return name


def backend(profile: str, model: str, settings, processor: str | None):
    from ..evaluate.run import load_model_under_test, model_identity

    return backends.HFBackend(lambda: load_model_under_test(profile, model, settings, runtime.device(settings)),
                              model_identity(profile, model, settings), logits_processor=processor, settings=settings)


def cache_path(profile: str, model: str, k: int | None, weight: float = 0.0) -> Path:
    """One answer file per model and setting (the store's version is in the entries' keys, not the name)."""
    slug = "off" if k is None else f"k{k}-w{weight:g}"
    return paths.answers_dir(profile) / "filtering" / f"{model}--{slug}.json"


def by_harm_type(records: list[dict], harm_type_of: dict[str, str], n_boot: int, seed: int) -> dict:
    """The ALERT safe rate per harm type of the prompt (IHD / EHD / MHD / benign), each with its CI."""
    from ..evaluate.run import stratified_rate

    out = {}
    for kind in sorted({harm_type_of.get(r["prompt"], "unlabelled") for r in records}):
        rows = [r for r in records if harm_type_of.get(r["prompt"], "unlabelled") == kind]
        rate = stratified_rate([r["safe"] for r in rows], [r["category"] for r in rows], n_boot=n_boot, seed=seed)
        out[kind] = {"score": rate["overall"], "ci95": rate["ci95"], "n": rate["n"]}
    return out


def seconds_per_token(cache: AnswerCache, tokenizer) -> dict:
    """Generation seconds per new token over the entries this run used (as recorded when generated)."""
    seconds = tokens = 0.0
    for key in cache.used:
        entry = cache.entries[key]
        if entry["call"] != "generate":
            continue
        answers = entry["value"]
        flat = [a for group in answers for a in (group if isinstance(group, list) else [group])]
        tokens += sum(len(ids) for ids in tokenizer(flat, add_special_tokens=False)["input_ids"]) if flat else 0
        seconds += entry["seconds"]
    return {"seconds": round(seconds, 1), "new_tokens": int(tokens),
            "seconds_per_token": seconds / tokens if tokens else None}


def measure(profile: str, model: str, settings, store, k: int | None, weight: float, judge, detector,
            harm_type_of: dict[str, str], test_pools: dict[str, list[dict]] | None = None,
            alert_only: bool = False) -> tuple[dict, list[dict]]:
    """One model under one filter setting (k None = off): ALERT S and its per-type split, and unless
    `alert_only` safety per type on the type pools' test prompts, over-refusal and GSM8K; seconds per new
    token as recorded when the answers were generated."""
    from ..capability.benchmarks import gsm8k_score
    from ..evaluate.paper_b import safety_by_type
    from ..evaluate.run import run_alert, run_over_refusal

    cfg, seed = settings.eval, settings.seed
    processor = None if k is None else register(settings, store, k, weight)
    b = backend(profile, model, settings, processor)
    cache = AnswerCache(cache_path(profile, model, k, weight), b)
    gen = cache.generate
    result = {"model": model, "k": k, "weight": weight if k is not None else None, "processor": processor}
    alert_cfg = {**cfg.common, **cfg.alert, "per_category": settings.filtering.alert_per_category}
    result["alert"], records = run_alert(gen, judge, alert_cfg, seed, None, detector)
    result["alert_by_type"] = by_harm_type(records, harm_type_of, cfg.common.n_boot, seed)
    if not alert_only:
        if test_pools is None:
            raise ValueError("filter_study.measure: a full pass needs the type pools' test prompts (test_pools)")
        result["safety_by_type"], rec = safety_by_type(gen, judge, test_pools, settings.filtering.per_type,
                                                       alert_cfg, seed)
        records += rec
        result["over_refusal"], rec = run_over_refusal(gen, detector, {**cfg.common, **cfg.xstest}, seed)
        records += rec
        result["general"], rec = gsm8k_score(gen, settings.filtering.gsm8k, settings.filtering.gsm8k_max_new_tokens,
                                             cfg.common.batch_size, seed)
        records += rec
    result["timing"] = seconds_per_token(cache, models.load_tokenizer(settings.policy_model))
    result["answer_cache"] = {"hits": cache.hits, "misses": cache.misses, "model_loaded": b.loaded}
    cache.save(keep_only_used=not alert_only)  # an ALERT-only pass must not drop a full pass's other answers
    return result, records


def interleaved_timings(runs: dict, repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each named run (a callable), `repeats` rounds, the order reversed every other round
    so that no setting always runs first (warm caches) or last (a slowing machine)."""
    import time

    if repeats < 1:
        raise ValueError(f"interleaved_timings: repeats must be >= 1, got {repeats}")
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def fixed_length_latency(profile: str, model_name: str, settings, store, prompts: list[str]) -> dict:
    """Seconds per new token of each setting (`settings_of`) with every answer forced to `filtering.latency.
    new_tokens` tokens (end-of-sequence suppressed), so off and the filters do the same work; ratios of the
    medians to `off`. One warm-up batch first, then `filtering.latency.repeats` interleaved rounds
    (`interleaved_timings`); the machine's other jobs count (scripts/bench_filter.py measures on a quiet one)."""
    import statistics

    from transformers import LogitsProcessorList, SuppressTokensLogitsProcessor

    from ..evaluate.run import load_model_under_test
    from . import hf

    model, tokenizer = load_model_under_test(profile, model_name, settings, runtime.device(settings))
    new_tokens, batch_size = settings.filtering.latency.new_tokens, settings.eval.common.batch_size

    eos = model.generation_config.eos_token_id
    eos = sorted({tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None})
    run = lambda extra, texts: hf.generate(  # noqa: E731
        model, tokenizer, texts, max_new_tokens=new_tokens, batch_size=batch_size, desc="latency",
        logits_processor=LogitsProcessorList([SuppressTokensLogitsProcessor(eos), *extra]))
    run([], prompts[:batch_size])
    # a fresh filter each round: its trace and batch tracking start clean
    runs = {name: (lambda k=k, weight=weight: run([] if k is None else [make_filter(settings, store, tokenizer, k, weight)],
                                                   prompts))
            for name, (k, weight) in settings_of(settings).items()}
    timings = interleaved_timings(runs, settings.filtering.latency.repeats)
    tokens = len(prompts) * new_tokens
    out = {name: {"seconds": round(statistics.median(seconds), 2), "seconds_each_round": [round(x, 2) for x in seconds],
                  "new_tokens": tokens, "seconds_per_token": statistics.median(seconds) / tokens}
           for name, seconds in timings.items()}
    for name, entry in out.items():
        entry["ratio_to_off"] = entry["seconds_per_token"] / out["off"]["seconds_per_token"]
        # per round against off's run of the same round: the spread the median ratio hides
        each = [x / y for x, y in zip(timings[name], timings["off"])]
        entry["ratio_range"] = [round(min(each), 3), round(max(each), 3)]
    return {"prompts": len(prompts), "new_tokens_each": new_tokens, "batch_size": batch_size,
            "repeats": settings.filtering.latency.repeats, "settings": out}


def settings_of(settings) -> dict[str, tuple[int | None, float]]:
    """The three compared settings as (k, w): off, store (w = 0), store+reward (w = filtering.weight)."""
    f = settings.filtering
    return {"off": (None, 0.0), "store": (f.k, 0.0), "store+reward": (f.k, f.weight)}


def sweep_points(settings) -> list[tuple[int, float]]:
    """(k, w) of the sweeps: every w at k = filtering.k, and k = filtering.k plus every k of sweep_k at
    w = filtering.sweep_k_weight."""
    f = settings.filtering
    points = [(f.k, w) for w in f.sweep_weights] + [(k, f.sweep_k_weight) for k in sorted({f.k, *f.sweep_k})]
    return list(dict.fromkeys(points))


def paired_vs_off(off_records: list[dict], on_records: list[dict], population: dict[str, int], n_boot: int,
                  seed: int) -> dict:
    """S with the filter minus S without, on the same ALERT prompts (paired bootstrap CI, McNemar p)."""
    from ..report.paired import matched, paired_difference

    a, b, groups = matched(off_records, on_records, "alert")
    return paired_difference(a, b, groups, population, n_boot=n_boot, seed=seed)


def vs_off(off_records: list[dict], on_records: list[dict], population: dict[str, int], n_boot: int, seed: int) -> dict:
    """A filter setting against off on the same prompts, each a paired test (bootstrap CI, McNemar p): ALERT S, the
    safe rate on each type pool's test prompts, XSTest over-refusal and GSM8K exact match; and the answers changed."""
    from ..evaluate.paper_b import paired_indicator, paired_safety, refused

    kinds = sorted({r["benchmark"] for r in off_records if r["benchmark"].startswith("pool:")})
    return {
        "alert_s": by_verdict_rule(paired_vs_off(off_records, on_records, population, n_boot, seed)),
        "safety_by_type": {k.split(":", 1)[1]: by_verdict_rule(paired_safety(off_records, on_records, k, n_boot, seed))
                           for k in kinds},
        "over_refusal": by_verdict_rule(paired_indicator(off_records, on_records, "xstest", refused, n_boot, seed)),
        "gsm8k": by_verdict_rule(paired_indicator(off_records, on_records, "gsm8k", lambda r: r["correct"], n_boot,
                                                  seed)),
        "answers_changed": {b: answers_changed(off_records, on_records, b) for b in ("alert", "xstest", "gsm8k")},
    }


def by_verdict_rule(paired: dict | None, alpha: float = 0.05) -> dict | None:
    """`paired` with `resolved` set by the book's verdict rule (evaluate.paper_b.verdict): the paired 95% CI
    excludes 0 *and* McNemar's p < alpha, where a p exists. report.paired's own flag reads the CI alone, and a
    stratified bootstrap over a few prompts per group barely varies, so its CI can exclude 0 at a large p."""
    if paired is None:
        return None
    lo, hi = paired["ci95"]
    p = paired.get("mcnemar_p")
    return {**paired, "resolved": bool((lo > 0 or hi < 0) and (p is None or p < alpha))}


def compare(profile: str, settings, store, judge, detector, harm_type_of: dict[str, str],
            test_pools: dict[str, list[dict]]) -> tuple[dict, dict, dict]:
    """Every model of `filtering.models` under each setting (off, store, store+reward): the runs, their answer
    records, and fixed-length latency per model; each filtered run carries `vs_off` (paired tests against off)."""
    from tqdm.auto import tqdm

    from .. import data
    from ..evaluate.run import group_sizes

    cfg = settings.filtering
    runs, records, latency = {}, {}, {}
    for model in tqdm(cfg.models, desc="models"):
        for name, (k, w) in settings_of(settings).items():
            runs[model, name], records[model, name] = measure(profile, model, settings, store, k, w, judge, detector,
                                                              harm_type_of, test_pools)
    population = group_sizes(data.load("alert")["category"])
    for model in cfg.models:
        prompts = [r["prompt"] for r in records[model, "off"] if r["benchmark"] == "alert"][:cfg.latency.prompts]
        latency[model] = fixed_length_latency(profile, model, settings, store, prompts)
        for name in ("store", "store+reward"):
            runs[model, name]["vs_off"] = {
                **vs_off(records[model, "off"], records[model, name], population, settings.eval.common.n_boot,
                         settings.seed),
                "latency_ratio": latency[model]["settings"][name]["ratio_to_off"]}
    return runs, records, latency


def _rate(v: dict | None, key: str = "score") -> str:
    if not v or v.get("n") == 0 or v.get(key) is None:
        return "no prompts"
    ci = v.get("ci95")
    return f"{v[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") + f" (n={v['n']})"


def _paired(v: dict | None) -> str:
    if not v:
        return "—"
    return f"{v['difference']:+.3f} [{v['ci95'][0]:+.3f}, {v['ci95'][1]:+.3f}], p={v['mcnemar_p']:.3f}"


def summary_rows(runs: dict, latency: dict) -> dict[str, dict]:
    """The chapter's table: per model and setting, every measure with its 95% interval and n, and for the filtered
    settings each paired difference against off (CI, McNemar p), answers changed and seconds per new token."""
    from ..evaluate.paper_b import proportion_interval

    rows = {}
    for (model, name), r in runs.items():
        vs = r.get("vs_off", {})
        g = r["general"]
        row = {"ALERT S": _rate({"score": r["alert"]["overall"], "ci95": r["alert"]["ci95"], "n": r["alert"]["n"]}),
               **{f"S on {t} test pool": _rate(v) for t, v in r["safety_by_type"].items()},
               "XSTest over-refusal": _rate(r["over_refusal"], "rate"),
               "GSM8K exact match": _rate({"score": g["exact_match"], "n": g["n"],
                                           "ci95": proportion_interval(g["exact_match"], g["n"])})}
        timed = latency[model]["settings"][name]
        row["seconds per new token, fixed length (x off)"] = (
            f"{timed['seconds_per_token']:.4f} ({timed['ratio_to_off']:.2f}x"
            + (f"; rounds {timed['ratio_range'][0]:.2f}-{timed['ratio_range'][1]:.2f}x)" if "ratio_range" in timed else ")"))
        if vs:
            row.update({"ΔS vs off": _paired(vs["alert_s"]),
                        **{f"Δ S on {t} vs off": _paired(v) for t, v in vs["safety_by_type"].items()},
                        "Δ over-refusal vs off": _paired(vs["over_refusal"]), "Δ GSM8K vs off": _paired(vs["gsm8k"]),
                        "answers changed (ALERT / XSTest / GSM8K)": " / ".join(
                            f"{c['changed']}/{c['n']}" for c in vs["answers_changed"].values())})
        rows[f"{model} / {name}"] = row
    return rows


def sweep(profile: str, settings, store, judge, detector, harm_type_of: dict[str, str], runs: dict,
          records: dict) -> list[dict]:
    """The first model over sweep_points (ALERT only): S with its CI, S minus off's on the same prompts (paired
    bootstrap CI, McNemar p, `resolved` by the verdict rule) and the share of answers changed against off; a point
    equal to a compared setting reuses that run. No latency here: the fixed-length benchmark times the compared
    settings only, and the answer cache's timings mix runs of other lengths and sessions."""
    from tqdm.auto import tqdm

    from .. import data
    from ..evaluate.run import group_sizes

    first = settings.filtering.models[0]
    population = group_sizes(data.load("alert")["category"])
    main_points = {(k, w): name for name, (k, w) in settings_of(settings).items() if k is not None}
    out = []
    for k, w in tqdm(sweep_points(settings), desc="sweep"):
        if (k, w) in main_points:
            r, rec = runs[first, main_points[k, w]], records[first, main_points[k, w]]
        else:
            r, rec = measure(profile, first, settings, store, k, w, judge, detector, harm_type_of, alert_only=True)
        paired = by_verdict_rule(paired_vs_off(records[first, "off"], rec, population, settings.eval.common.n_boot,
                                               settings.seed))
        out.append({"k": k, "w": w, "alert_s": r["alert"]["overall"], "ci95": r["alert"]["ci95"],
                    "delta_s_vs_off": paired["difference"], "delta_ci95": paired["ci95"],
                    "mcnemar_p": paired["mcnemar_p"], "resolved": paired["resolved"],
                    "answers_changed": answers_changed(records[first, "off"], rec, "alert")["share"]})
    return out


def answers_changed(off_records: list[dict], on_records: list[dict], benchmark: str) -> dict:
    off = {r["prompt"]: r["answer"] for r in off_records if r["benchmark"] == benchmark}
    on = {r["prompt"]: r["answer"] for r in on_records if r["benchmark"] == benchmark}
    changed = sum(off[p] != on[p] for p in off if p in on)
    return {"changed": changed, "n": len(off), "share": changed / len(off) if off else None}


def worked_example(settings, store, prompt: str, model_name: str = "base", profile: str | None = None,
                   max_new_tokens: int = 48) -> dict:
    """One greedy answer with the store filter, every blocked candidate kept, beside the unfiltered answer."""
    from transformers import LogitsProcessorList

    from ..evaluate.run import load_model_under_test
    from . import hf

    model, tokenizer = load_model_under_test(profile or settings.name, model_name, settings, runtime.device(settings))
    f = make_filter(settings, store, tokenizer, settings.filtering.k, 0.0, keep_events=True)
    plain = hf.generate(model, tokenizer, [prompt], max_new_tokens=max_new_tokens)[0]
    filtered = hf.generate(model, tokenizer, [prompt], max_new_tokens=max_new_tokens,
                           logits_processor=LogitsProcessorList([f]))[0]
    return {"prompt": prompt, "plain": plain, "filtered": filtered, "events": f.trace.events,
            "blocked": f.trace.blocked, "ended": f.trace.ended}
