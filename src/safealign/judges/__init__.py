"""Judges and scorers: the safety judge ω(prompt, response), the refusal detector, the toxicity scorer.

    judge = judges.load_safety_judge(settings)       # .judge(prompts, responses) -> [Verdict(safe, score, category)]
    refusal = judges.load_refusal_detector(settings)  # .classify(prompts, responses) -> ['refused'|'complied'|'partial']
    toxicity = judges.load_toxicity_scorer(settings)  # .score(texts) -> [0..1]
    judges.agreement(profile)                         # measured agreement with human labels (judges.json)

Trained judges live under runs/<profile>/judges/ (safetensors + json), written by notebooks/03_judges.ipynb.
"""

from __future__ import annotations

from .. import io
from .base import NOTEBOOK, JudgeNotTrained, SafetyJudge, Verdict, binary_metrics
from .toxicity import load_toxicity_scorer

__all__ = ["Verdict", "SafetyJudge", "JudgeNotTrained", "load_safety_judge", "load_refusal_detector",
           "load_toxicity_scorer", "agreement", "binary_metrics", "config"]

def config(settings, part: str):
    """The profile's judges.<part> section (typed settings: every key present, no defaults here)."""
    return settings.judges[part]


def load_safety_judge(settings: dict, backend: str | None = None) -> SafetyJudge:
    """The profile's safety judge: judges.safety.backend = 'compliance' (refusal detector + content model, both
    trained here) | 'offline' (content model alone) | 'llama_guard' | 'tiny_llama_guard'; `backend` overrides it."""
    cfg = config(settings, "safety")
    backend = backend or cfg["backend"]
    if backend == "offline":
        from .offline import OfflineSafetyJudge

        return OfflineSafetyJudge.load(settings["name"])
    if backend == "compliance":
        from .compliance import ComplianceJudge
        from .offline import OfflineSafetyJudge
        from .refusal import RefusalDetector

        return ComplianceJudge(OfflineSafetyJudge.load(settings["name"]), RefusalDetector.load(settings["name"]))
    if backend == "llama_guard":
        from .. import runtime
        from . import llama_guard

        return llama_guard.load(cfg["llama_guard_model"], runtime.device(settings), cfg["batch_size"])
    if backend == "tiny_llama_guard":
        from . import llama_guard

        return llama_guard.tiny_llama_guard(settings.seed)
    raise ValueError(f"judges.safety.backend {backend!r} in profiles.yaml: choose compliance | offline | llama_guard | tiny_llama_guard")


def load_refusal_detector(settings: dict):
    """judges.refusal.backend = 'trained' (XSTest-trained TF-IDF LR, from the notebook) | 'rules'."""
    from .refusal import RefusalDetector, RuleRefusalDetector

    backend = config(settings, "refusal")["backend"]
    if backend == "trained":
        return RefusalDetector.load(settings["name"])
    if backend == "rules":
        return RuleRefusalDetector()
    raise ValueError(f"judges.refusal.backend {backend!r} in profiles.yaml: choose trained | rules")


def agreement(profile: str) -> dict:
    """The judges' measured agreement with human labels (book/results/<profile>/judges.json), compact."""
    try:
        result = io.read_result(profile, "judges")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}; the file is written by {NOTEBOOK}") from None
    safety, refusal, tox = result["safety_judge"], result["refusal"], result["toxicity"]
    out = {"safety_judge": _safety_agreement(safety, safety["backend"])}
    if "content_model" in safety and safety["backend"] != "offline":  # the 'offline' judge, reported beside
        out["offline_judge"] = _safety_agreement(safety["content_model"], "offline")
    out["refusal"] = {"name": refusal["name"], "xstest_accuracy": refusal["xstest"]["accuracy"],
                      "xstest_n": refusal["xstest"]["n"], "protocol": refusal["xstest"]["protocol"]}
    out["toxicity"] = {"name": tox["name"], "perspective_spearman": tox["perspective"]["spearman"],
                       "perspective_n": tox["perspective"]["n"]}
    return out


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
