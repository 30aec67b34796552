"""The store's first version: HurtLex terms that people mark as toxic, and a documented entity list.

What is seeded, and why:
- HurtLex 1.2 (EN), conservative level, kept only where human annotators agree the word is the toxic
  part: it occurs at least `min_occurrences` times in the SemEval-2021 toxic-spans *train* split and
  at least `min_toxic_share` of those occurrences lie inside an annotated toxic span. HurtLex alone
  is too noisy to block at generation ("destroyer", "rubbish", "queer", "dame" are lemmas); the span
  rule keeps insults and profanity ("idiot", "moron", "fuck") and drops identity terms that annotators
  mark only in some contexts ("gay" 0.60, "homosexual" 0.50).
- Then a lemma that occurs in more than `max_benign_docs` benign general-domain documents (MMLU
  questions and HellaSwag contexts; neither is a set the filter's false-positive rate is measured on)
  is pruned as ambiguous.
- The curated entities of the harm-type labeller (`safealign.risk.lexicon.RISK_ENTITIES`) in the
  categories a safe answer never needs to write (`GENERATION_CATEGORIES`). Topics a safe answer must
  be able to name ("suicide" in a crisis-line answer, "terrorism", "murder", "Hitler" in history)
  are left out on purpose: blocking them at generation would block the safe answer too.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from safealign.risk.lexicon import RISK_ENTITIES
from safealign.risk.matcher import EntityMatcher, normalise
from safealign.risk.store import MAX_ENTITY_CHARS, _ENTITY_OK

HURTLEX_CATEGORY = "insults_profanity"
GENERATION_CATEGORIES = ("slurs", "sexual_minors", "sexual_explicit", "cbrn", "drugs", "weapons_explosives")
SEED_REASON = "seed: HurtLex terms marked toxic in SemEval toxic spans (pruned on benign text) + curated entities"


def benign_texts(limit_per_source: int = 10000) -> list[str]:
    """General-domain text for pruning: MMLU questions and HellaSwag contexts (shipped copies)."""
    from safealign.data import loaders

    mmlu, hellaswag = loaders.load("mmlu"), loaders.load("hellaswag")
    return ([r["question"] for r in mmlu.select(range(min(limit_per_source, len(mmlu))))]
            + [r["context"] for r in hellaswag.select(range(min(limit_per_source, len(hellaswag))))])


def _char_aligned(ch: str) -> str:
    norm = normalise(ch)
    return norm if len(norm) == 1 else "\x00"


def toxic_share(terms: Iterable[str], spans_rows: Iterable[dict]) -> dict[str, tuple[int, float]]:
    """{term: (occurrences, share inside a toxic span)} over toxic-spans rows (text, spans)."""
    matcher = EntityMatcher({t: "candidate" for t in terms})
    seen, toxic = Counter(), Counter()
    for row in spans_rows:
        spans = set(row["spans"])
        text = "".join(_char_aligned(ch) for ch in row["text"])  # offsets stay those of the annotation
        for m in matcher.find(text, normalised=True):
            seen[m.entity] += 1
            toxic[m.entity] += 2 * sum(i in spans for i in range(m.start, m.end)) >= m.end - m.start
    return {t: (seen[t], toxic[t] / seen[t]) for t in seen}


def seed_rows(hurtlex_rows: Iterable[dict], spans_train: Sequence[dict], benign: Sequence[str],
              min_occurrences: int = 5, min_toxic_share: float = 0.75,
              max_benign_docs: int = 1) -> tuple[list[dict], dict]:
    """Rows for `RiskStore.import_rows`, and the evidence for each HurtLex decision."""
    candidates = {}
    for row in hurtlex_rows:
        entity = normalise(row["lemma"]).strip()
        if row["level"] == "conservative" and 3 <= len(entity) <= MAX_ENTITY_CHARS and _ENTITY_OK.match(entity):
            candidates.setdefault(entity, f"hurtlex-1.2:{row['category']}")
    share = toxic_share(candidates, spans_train)
    marked = {e for e, (n, s) in share.items() if n >= min_occurrences and s >= min_toxic_share}
    probe = EntityMatcher({e: "candidate" for e in marked})
    benign_docs: Counter = Counter()
    for text in benign:
        benign_docs.update({m.entity for m in probe.find(text)})
    rows = {e: {"entity": e, "category": HURTLEX_CATEGORY, "source": candidates[e], "reason": SEED_REASON}
            for e in marked if benign_docs[e] <= max_benign_docs}
    for category in GENERATION_CATEGORIES:
        for term in RISK_ENTITIES.get(category, ()):
            entity = normalise(term).strip()
            rows[entity] = {"entity": entity, "category": category, "source": "curated:safealign.data.harmtype",
                            "reason": SEED_REASON}
    evidence = {"hurtlex_candidates": len(candidates), "toxic_share": {e: share[e] for e in sorted(marked)},
                "pruned_as_benign": sorted(e for e in marked if benign_docs[e] > max_benign_docs),
                "rule": {"min_occurrences": min_occurrences, "min_toxic_share": min_toxic_share,
                         "max_benign_docs": max_benign_docs}}
    return sorted(rows.values(), key=lambda r: r["entity"]), evidence


def shipped_seed_rows() -> tuple[list[dict], dict]:
    """`seed_rows` on the shipped HurtLex, toxic-spans train split and benign text."""
    from safealign.data import loaders

    spans = [r for r in loaders.load("toxic_spans") if r["split"] == "train"]
    return seed_rows(loaders.load("hurtlex"), spans, benign_texts())
