"""Training entry points and validation against human labels, for notebooks/03_judges.ipynb."""

from __future__ import annotations

import json

import numpy as np

from .. import data, io
from . import config
from .base import binary_metrics
from .offline import CANDIDATES, OfflineSafetyJudge, benign_answers, judge_rows, select_and_train
from .refusal import RefusalDetector, head_embeddings, hyper_grid, leave_one_model_out, train_selected, xstest_rows


def training_rows(settings: dict, limit: int | None) -> dict[str, list]:
    """judge_train rows without those whose prompt shares a question with a JailbreakEval set (the rule the harm
    judge trains by, so that every judge compared on those sets is held to it)."""
    from .label_sources import shares_a_benchmark_question

    rows, shared = judge_rows(settings, "judge_train", limit=limit), shares_a_benchmark_question()
    keep = [i for i, p in enumerate(rows["prompt"]) if not shared(p)]
    return {k: [v[i] for i in keep] for k, v in rows.items()}


def train_safety_judge(settings: dict) -> tuple[OfflineSafetyJudge, list[dict], int]:
    """Select (grouped CV on judge_train) and fit the offline judge, save it; returns (judge, cv table, rows)."""
    cfg = config(settings, "safety")
    rows = training_rows(settings, cfg.train_rows)
    benign, weight = benign_answers(settings)
    judge, table = select_and_train(rows, cfg.candidates, cfg.cv_folds, settings.seed, benign, weight, cfg.threshold)
    judge.save(settings["name"], {"train_split": "judge_train", "train_rows": len(rows["prompt"]), "selection": table,
                                  "benign_rows": len(benign), "benign_weight": weight})
    return judge, table, len(rows["prompt"])


def train_refusal_detector(settings: dict) -> tuple[RefusalDetector, list[dict], dict]:
    """Leave-one-model-out validation on XSTest (C and embedding weight chosen inside each training fold),
    then the detector refit on every model's completions with the grid point chosen on all of them."""
    cfg = config(settings, "refusal")
    rows = xstest_rows(cfg.rows_per_model, settings.seed)
    grid = hyper_grid(cfg)
    embeddings = head_embeddings(list(rows["completion"])) if any(h["embedding_weight"] for h in grid) else None
    table, predictions = leave_one_model_out(rows, grid, settings["seed"], embeddings)
    labels = np.array(rows["label"])
    pooled = {"accuracy": float((np.array(predictions) == labels).mean()), "n": int(len(labels)),
              "protocol": "leave-one-model-out over the XSTest models " + ", ".join(r["held_out_model"] for r in table)
                          + (f"; C and embedding weight chosen per fold by an inner leave-one-model-out over {len(grid)} "
                             "grid points" if len(grid) > 1 else ""),
              "confusion": confusion(labels, np.array(predictions))}
    detector, chosen = train_selected(rows, grid, settings["seed"], embeddings)
    detector.save(settings["name"], {"validation": pooled, "per_model": table, "chosen": chosen, "grid": grid})
    return detector, table, pooled


def confusion(truth: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, int]]:
    labels = sorted(set(truth.tolist()) | set(predicted.tolist()))
    return {t: {p: int(((truth == t) & (predicted == p)).sum()) for p in labels} for t in labels}


def safety_heldout(judge, settings: dict) -> dict:
    """PKU-SafeRLHF 'test' prompts (never trained on): per-response human safety labels."""
    rows = judge_rows(settings, "test", limit=config(settings, "safety").test_rows)
    verdicts = judge.judge(rows["prompt"], rows["response"])
    metrics = binary_metrics(rows["unsafe"], [v.score for v in verdicts], threshold=getattr(judge, "threshold", 0.5))
    metrics["verdict_accuracy"] = float(np.mean([(not v.safe) == u for v, u in zip(verdicts, rows["unsafe"])]))
    return metrics


def safety_xstest_unsafe(judge) -> tuple[dict, list[dict]]:
    """XSTest completions to its 200 unsafe prompts: human full_compliance → unsafe; full and partial refusals
    → safe (a partial refusal withholds the harmful part). Also reported: accuracy without partial refusals."""
    rows = data.load("xstest_completions")
    rows = rows.select([i for i, label in enumerate(rows["prompt_label"]) if label == "unsafe"])
    verdicts = judge.judge(rows["prompt"], rows["completion"])
    return xstest_unsafe_summary(rows, np.array([not v.safe for v in verdicts]))


def compliance_xstest_unsafe(content, settings: dict, per_model: list[dict]) -> tuple[dict, list[dict]]:
    """The compliance judge on XSTest's unsafe prompts, blind to the model it is tested on: for each XSTest
    model, the refusal detector is trained on the other three models' completions (all prompts), with the
    C and embedding weight its leave-one-model-out fold chose (`per_model`, from train_refusal_detector)."""
    from .compliance import ComplianceJudge

    cfg = config(settings, "refusal")
    rows = xstest_rows(cfg.rows_per_model, settings.seed)
    models, labels = np.array(rows["model"]), np.array(rows["label"])
    unsafe_prompt = np.array(rows["prompt_label"]) == "unsafe"
    predicted = np.zeros(len(rows), dtype=bool)
    fold = {r["held_out_model"]: r for r in per_model}
    for held_out in sorted(set(models)):
        if held_out not in fold:
            raise ValueError(f"per_model has no leave-one-model-out fold for XSTest model {held_out!r}; retrain the refusal detector")
        train = np.flatnonzero(models != held_out)
        test = np.flatnonzero((models == held_out) & unsafe_prompt)
        detector = RefusalDetector.train([rows["completion"][i] for i in train], labels[train], fold[held_out].get("C", 1.0),
                                         settings["seed"], fold[held_out].get("embedding_weight", 0.0))
        judge = ComplianceJudge(content, detector)
        verdicts = judge.judge([rows["prompt"][i] for i in test], [rows["completion"][i] for i in test])
        predicted[test] = [not v.safe for v in verdicts]
    keep = np.flatnonzero(unsafe_prompt)
    summary, per_label = xstest_unsafe_summary(rows.select(keep), predicted[keep])
    summary["protocol"] = "refusal detector trained on the other XSTest models (leave-one-model-out)"
    return summary, per_label


def xstest_unsafe_summary(rows, predicted: np.ndarray) -> tuple[dict, list[dict]]:
    """Accuracy of unsafe-verdicts against human labels (full_compliance → unsafe), overall, balanced and per label."""
    truth = np.array([label == "full_compliance" for label in rows["final_label"]])
    correct = predicted == truth
    not_partial = np.array([label != "partial_refusal" for label in rows["final_label"]])
    recall = [float(correct[truth == c].mean()) for c in (True, False) if (truth == c).any()]
    summary = {"accuracy": float(correct.mean()), "n": int(len(truth)), "unsafe_n": int(truth.sum()),
               "balanced_accuracy": float(np.mean(recall)),
               "accuracy_without_partial": float(correct[not_partial].mean()), "n_without_partial": int(not_partial.sum()),
               "partial_refusals_count_as": "safe"}
    per_label = [{"human_label": label, "n": int(mask.sum()), "judged_unsafe": int(predicted[mask].sum()),
                  "accuracy": float(correct[mask].mean())}
                 for label in ("full_compliance", "partial_refusal", "full_refusal")
                 for mask in [np.array(rows["final_label"]) == label] if mask.any()]
    return summary, per_label


def toxicity_vs_perspective(scorer, rows_limit: int | None = None, seed: int = 0) -> tuple[dict, list[dict], dict]:
    """Spearman / Pearson / MAE of the scorer against the Perspective scores shipped with DecodingTrust,
    per subset (file) and text field, and overall. Returns (overall, table, arrays for plots)."""
    from scipy.stats import pearsonr, spearmanr

    rows = data.load("decodingtrust_toxicity")
    if rows_limit and len(rows) > rows_limit:
        rows = rows.shuffle(seed=seed).select(range(rows_limit))
    texts, truth, subsets, fields = [], [], [], []
    for row in rows:
        for field in ("prompt", "continuation"):
            if row[field] and row[f"{field}_toxicity"] is not None:
                texts.append(row[field]); truth.append(row[f"{field}_toxicity"])
                subsets.append(row["subset"]); fields.append(field)
    predicted, truth = np.array(scorer.score(texts)), np.array(truth)
    subsets, fields = np.array(subsets), np.array(fields)

    def stats(mask) -> dict:
        p, t = predicted[mask], truth[mask]
        q1, q3 = np.percentile(t, [25, 75])
        return {"n": int(mask.sum()), "spearman": float(spearmanr(p, t)[0]), "pearson": float(pearsonr(p, t)[0]),
                "mae": float(np.abs(p - t).mean()), "perspective_iqr": float(q3 - q1)}

    table = [{"subset": s, "field": f, **stats((subsets == s) & (fields == f))}
             for s in sorted(set(subsets)) for f in ("prompt", "continuation") if ((subsets == s) & (fields == f)).sum() > 2]
    table += [{"subset": s, "field": "both", **stats(subsets == s)} for s in sorted(set(subsets))]
    overall = stats(np.ones(len(truth), dtype=bool))
    return overall, table, {"predicted": predicted, "perspective": truth, "subset": subsets}


def ensure_trained(settings: dict, force: bool = False) -> dict:
    """Train the offline safety judge and the refusal detector unless weights made with the same settings
    exist under runs/<profile>/judges/; return what their training recorded (selection and LOMO tables)."""
    from .base import weights_dir

    folder, recorded = weights_dir(settings["name"]), {}
    for name, part, train in (("safety_judge", "safety", train_safety_judge), ("refusal", "refusal", train_refusal_detector)):
        meta_path = folder / f"{name}.json"
        # as JSON would read it back, so that unchanged settings compare equal to the recorded ones
        wanted = json.loads(json.dumps({**config(settings, part), "seed": settings.seed, "splits": settings.splits},
                                       default=io._json_default))
        meta = io.read_json(meta_path) if meta_path.exists() else {}
        if force or meta.get("settings") != wanted or not (folder / f"{name}.safetensors").exists():
            train(settings)
            meta = io.read_json(meta_path)
            meta["settings"] = wanted
            io.write_json(meta_path, meta)
            meta["trained_now"] = True
        recorded[name] = {k: v for k, v in meta.items() if not k.endswith((".vocabulary", ".params"))}
    return recorded


def safety_xstest_safe(judge) -> dict:
    """XSTest completions to its 250 safe prompts (safe by construction: homonyms, figurative language,
    safe contexts ...): every answer counts as safe, so this is the judge's false-alarm rate on benign
    answers, compliant or not."""
    rows = data.load("xstest_completions")
    rows = rows.select([i for i, label in enumerate(rows["prompt_label"]) if label == "safe"])
    verdicts = judge.judge(rows["prompt"], rows["completion"])
    safe = np.array([v.safe for v in verdicts])
    complied = np.array([label == "full_compliance" for label in rows["final_label"]])
    return {"accuracy": float(safe.mean()), "n": int(len(safe)),
            "accuracy_on_compliant_answers": float(safe[complied].mean()), "n_compliant": int(complied.sum()),
            "mean_score": float(np.mean([v.score for v in verdicts]))}


def benign_ablation(judge: OfflineSafetyJudge, settings: dict) -> list[dict]:
    """The chosen candidate refit without the benign answers, next to the saved judge: what they cost on
    PKU and what they buy on XSTest's safe prompts."""
    cfg = config(settings, "safety")
    rows = training_rows(settings, cfg.train_rows)
    without = OfflineSafetyJudge(CANDIDATES[judge.candidate].fit(rows["response"], rows["unsafe"], rows["prompt"],
                                                                 settings["seed"]), judge.candidate)  # threshold 0.5
    table = []
    for label, j in (("with benign answers (saved judge)", judge), ("without benign answers", without)):
        held, safe = safety_heldout(j, settings), safety_xstest_safe(j)
        table.append({"variant": label, "pku_accuracy": held["accuracy"], "pku_roc_auc": held["roc_auc"],
                      "xstest_unsafe_accuracy": safety_xstest_unsafe(j)[0]["accuracy"],
                      "xstest_safe_accuracy": safe["accuracy"]})
    return table
