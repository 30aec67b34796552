"""Judges and scorers: the safety judge ω(prompt, response), the refusal detector, the toxicity scorer.

    judge = judges.load_safety_judge(settings)       # .judge(prompts, responses) -> [Verdict(safe, score, category)]
    refusal = judges.load_refusal_detector(settings)  # .classify(prompts, responses) -> ['refused'|'complied'|'partial']
    toxicity = judges.load_toxicity_scorer(settings)  # .score(texts) -> [0..1]
    judges.agreement(settings)                        # the book's judges and their agreement (judges.json)

Trained judges live under runs/<profile>/judges/ (safetensors + json), written by notebooks/03_judges.ipynb.
"""

from __future__ import annotations

from .. import io
from .base import NOTEBOOK, JudgeNotTrained, SafetyJudge, Verdict, binary_metrics
from .toxicity import load_toxicity_scorer

__all__ = ["Verdict", "SafetyJudge", "JudgeNotTrained", "load_safety_judge", "load_refusal_detector",
           "load_toxicity_scorer", "agreement", "compliance_agreement", "binary_metrics", "config",
           "BOOK_RESULT", "COMPLIANCE_RESULT"]

def config(settings, part: str):
    """The profile's judges.<part> section (typed settings: every key present, no defaults here)."""
    return settings.judges[part]


SAFETY_BACKENDS = ("harm", "compliance", "offline", "llama_guard", "tiny_llama_guard")


def load_safety_judge(settings: dict, backend: str | None = None) -> SafetyJudge:
    """The profile's safety judge: judges.safety.backend = 'harm' (the harm judge of notebook 03b, trained on
    human harm labels) | 'compliance' (refusal detector + content model of notebook 03: an unsafe verdict
    means 'did not refuse') | 'offline' (03's content model alone) | 'llama_guard' | 'tiny_llama_guard';
    `backend` overrides it."""
    cfg = config(settings, "safety")
    backend = backend or cfg["backend"]
    if backend == "harm":
        from .harm_stage import load_harm_judge

        return load_harm_judge(settings)
    if backend == "offline":
        from .offline import OfflineSafetyJudge

        return OfflineSafetyJudge.load(settings["name"])
    if backend == "compliance":
        from .compliance import ComplianceJudge
        from .offline import OfflineSafetyJudge
        from .refusal import RefusalDetector

        return ComplianceJudge(OfflineSafetyJudge.load(settings["name"]), RefusalDetector.load(settings["name"]))
    if backend == "llama_guard":
        if cfg["engine"] == "vllm":
            from .llama_guard_vllm import VLLMLlamaGuardJudge

            return VLLMLlamaGuardJudge(cfg["llama_guard_model"], dict(cfg["engine_args"]))
        if cfg["engine"] != "transformers":
            raise ValueError(f"judges.safety.engine {cfg['engine']!r} in profiles.yaml: choose transformers | vllm")
        if cfg["engine_args"]:
            raise ValueError(f"judges.safety.engine_args {dict(cfg['engine_args'])} apply to engine vllm only")
        from .. import runtime
        from . import llama_guard

        return llama_guard.load(cfg["llama_guard_model"], runtime.device(settings), cfg["batch_size"])
    if backend == "tiny_llama_guard":
        from . import llama_guard

        return llama_guard.tiny_llama_guard(settings.seed)
    raise ValueError(f"judges.safety.backend {backend!r} in profiles.yaml: choose one of {' | '.join(SAFETY_BACKENDS)}")


def load_refusal_detector(settings: dict, backend: str | None = None):
    """judges.refusal.backend = 'trained' (XSTest-trained TF-IDF LR, notebook 03) | 'rules'; `backend` overrides
    it, and also takes 'lecture_aware' (notebook 03b's detector, which knows lecturing refusals)."""
    from .refusal import RefusalDetector, RuleRefusalDetector

    backend = backend or config(settings, "refusal")["backend"]
    if backend == "lecture_aware":
        from . import harm_stage
        from .lecture_refusal import LectureAwareRefusalDetector

        return LectureAwareRefusalDetector.load(harm_stage.weights_dir(settings.name), settings.name)
    if backend == "trained":
        return RefusalDetector.load(settings["name"])
    if backend == "rules":
        return RuleRefusalDetector()
    raise ValueError(f"refusal detector {backend!r} (judges.refusal.backend or eval.refusal_detector in profiles.yaml): "
                     f"choose trained | rules | lecture_aware")


BOOK_RESULT = "judges"  # book/results/<profile>/judges.json: the book's judges, written by notebook 03b
COMPLIANCE_RESULT = "compliance_judges"  # notebook 03's first judges (compliance judge, content model)
BOOK_JUDGE_NAMES = {"harm": "harm judge", "compliance": "compliance judge (03)", "offline": "PKU content model (03)"}


def _read(profile: str, name: str, notebook: str) -> dict:
    try:
        return io.read_result(profile, name)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}; the file is written by {notebook}") from None


def compliance_agreement(profile: str) -> dict:
    """Notebook 03's judges' agreement with human labels (compliance_judges.json), compact."""
    result = _read(profile, COMPLIANCE_RESULT, NOTEBOOK)
    safety, refusal, tox = result["safety_judge"], result["refusal"], result["toxicity"]
    out = {"compliance_judge": _safety_agreement(safety, safety["backend"])}
    if "content_model" in safety and safety["backend"] != "offline":  # the 'offline' judge, reported beside
        out["offline_judge"] = _safety_agreement(safety["content_model"], "offline")
    out["refusal"] = {"name": refusal["name"], "xstest_accuracy": refusal["xstest"]["accuracy"],
                      "xstest_n": refusal["xstest"]["n"], "protocol": refusal["xstest"]["protocol"]}
    out["toxicity"] = {"name": tox["name"], "perspective_spearman": tox["perspective"]["spearman"],
                       "perspective_n": tox["perspective"]["n"]}
    return out


def agreement(settings) -> dict:
    """The book's judges and their measured agreement with human labels (judges.json, notebook 03b): the
    safety judge of S and ASR with its accuracy and balanced accuracy on safe_rlhf_mini / jailjudge_mini and
    whether the floors are met, the refusal detector of the evaluation on XSTest (leave-one-model-out), the
    toxicity scorer against Perspective; the one line every judged table carries."""
    from .compare import floors_met, judge_line

    result = _read(settings.name, BOOK_RESULT, "notebooks/03b_harm_judges.ipynb")
    backend = settings.judges.safety.backend
    if backend == "harm":
        name, benchmarks = result["safety_judge"]["name"], result["safety_judge"]["benchmarks"]
    elif backend in BOOK_JUDGE_NAMES:
        name, benchmarks = BOOK_JUDGE_NAMES[backend], result["other_judges"][BOOK_JUDGE_NAMES[backend]]
    else:  # Llama Guard: its published accuracy on the same two sets (no human-label run of it here)
        published = {k: v for k, v in result.get("published", {}).items() if k.startswith("Llama Guard 3")}
        name = next(iter(published), backend)
        benchmarks = {b: {"accuracy": acc, "source": "published"} for b, acc in published.get(name, {}).items()}
    shown = {b: {k: benchmarks[b][k] for k in ("accuracy", "balanced_accuracy", "n", "source") if k in benchmarks[b]}
             for b in ("safe_rlhf_mini", "jailjudge_mini") if b in benchmarks}
    measured = bool(shown) and all("balanced_accuracy" in v for v in shown.values())
    line = judge_line(name, shown) if measured else (
        f"Judge: {name}; published accuracy " + ", ".join(f"{b} {v['accuracy']:.2f}" for b, v in shown.items()) + "."
        if shown else f"Judge: {name} (no accuracy on the benchmark sets recorded)")
    refusal = result["refusal"]["xstest"]
    lecture = settings.eval.refusal_detector == "lecture_aware"
    return {
        "safety_judge": {"name": name, "backend": backend, "benchmarks": shown,
                         "floors_met": floors_met(shown) if measured else None, "line": line},
        "refusal": {"name": result["refusal"]["name"] if lecture else settings.eval.refusal_detector,
                    "xstest_accuracy": refusal["accuracy"] if lecture else None,
                    "xstest_balanced_accuracy": refusal["balanced_accuracy"] if lecture else None,
                    "floors_met": refusal.get("floors") if lecture else None},
        "toxicity": {"name": result["toxicity"]["name"],
                     "perspective_spearman": result["toxicity"]["perspective"]["pooled"]["spearman"],
                     "within_subset_spearman_min": result["toxicity"]["perspective"]["within_subset_spearman_min"]},
    }


def _safety_agreement(section: dict, backend: str) -> dict:
    """A safety judge's agreement numbers from its section of judges.json (absent measurements left out)."""
    numbers = {"name": section["name"], "backend": backend,
               "pku_heldout_accuracy": section["heldout"]["accuracy"], "pku_heldout_n": section["heldout"]["n"],
               "pku_heldout_roc_auc": section["heldout"]["roc_auc"],
               "xstest_unsafe_accuracy": section["xstest_unsafe"]["accuracy"],
               "xstest_unsafe_balanced_accuracy": section["xstest_unsafe"].get("balanced_accuracy"),
               "xstest_unsafe_n": section["xstest_unsafe"]["n"],
               "xstest_safe_accuracy": (section.get("xstest_safe") or {}).get("accuracy")}
    return {k: v for k, v in numbers.items() if v is not None}
