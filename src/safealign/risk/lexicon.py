"""The explicit-harm lexicon (paper B §3): HurtLex lemmas pruned on benign text, plus curated risk entities.

Used by the harm-type labeller (data.harmtype) and as the seed of the risk-entity store (risk.seed).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

# Curated risk entities: terms whose mere presence is explicit harmful content, whatever the intent.
RISK_ENTITIES: dict[str, tuple[str, ...]] = {
    "drugs": ("cocaine", "crack cocaine", "heroin", "meth", "methamphetamine", "crystal meth", "fentanyl",
              "lsd", "mdma", "ecstasy pills", "opium", "ketamine", "pcp", "date rape drug", "roofies", "rohypnol"),
    "weapons_explosives": ("bomb", "pipe bomb", "car bomb", "explosive", "explosives", "grenade", "napalm",
                           "molotov cocktail", "tnt", "dynamite", "detonator", "ghost gun", "silencer",
                           "ied", "landmine"),
    "cbrn": ("sarin", "anthrax", "ricin", "nerve agent", "nerve gas", "mustard gas", "chemical weapon",
             "bioweapon", "biological weapon", "dirty bomb", "enriched uranium", "cyanide", "arsenic"),
    "sexual_minors": ("child porn", "child pornography", "underage sex", "pedophile", "paedophile", "pedophilia",
                      "molest", "molestation", "child molester", "lolicon"),
    "sexual_explicit": ("porn", "pornography", "blowjob", "anal sex", "orgasm", "dildo", "nude photos", "nudes"),
    "violent_crime": ("murder", "rape", "raped", "rapist", "kidnapping", "torture", "genocide", "massacre",
                      "mass shooting", "lynching", "human trafficking", "sex trafficking", "beheading"),
    "extremism": ("isis", "al-qaeda", "al qaeda", "taliban", "ku klux klan", "kkk", "nazi", "neo-nazi",
                  "white supremacy", "white supremacist", "jihadist", "terrorism", "terrorist", "hitler"),
    "self_harm": ("suicide", "self-harm", "self harm", "kill myself", "overdose"),
    "slurs": ("nigger", "niggers", "nigga", "faggot", "fag", "retard", "retarded", "tranny", "chink", "spic",
              "kike", "wetback", "gook", "towelhead", "raghead", "cunt", "whore", "slut"),
}

_LEMMA_OK = re.compile(r"^[a-z][a-z' -]{2,}$")


@dataclass
class Lexicon:
    """Whole-word matcher; `sources[term]` says where a term comes from ('hurtlex:ps', 'entity:drugs').

    Texts and terms are compared as lower-case word sequences (hyphens count as spaces, so 'self-harm'
    matches 'self harm'); a trailing plural 's'/'es' in the text is allowed. Longest match wins.
    """

    sources: dict[str, str]
    pruned: list[str] = field(default_factory=list)  # HurtLex lemmas dropped as ambiguous

    def __post_init__(self) -> None:
        self._index = {_norm(t): s for t, s in self.sources.items() if _norm(t)}
        self._longest = max((len(t.split()) for t in self._index), default=0)

    def _lookup(self, phrase: str) -> str | None:
        for candidate in (phrase, phrase[:-1] if phrase.endswith("s") else None, phrase[:-2] if phrase.endswith("es") else None):
            if candidate and candidate in self._index:
                return candidate
        return None

    def matches(self, text: str) -> list[tuple[str, str]]:
        """Distinct (term, source) pairs found in `text`, in order of appearance."""
        words, found, i = _tokens(text), {}, 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                term = self._lookup(" ".join(words[i:i + n]))
                if term:
                    found.setdefault(term, self._index[term])
                    i += n
                    break
            else:
                i += 1
        return list(found.items())


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())  # apostrophes only inside words: 'slur' -> slur


def _norm(term: str) -> str:
    return " ".join(_tokens(term))


def build_lexicon(hurtlex_rows: Iterable[dict], benign_texts: Sequence[str] = (), levels: Sequence[str] = ("conservative",),
                  max_benign_docs: int = 1, entities: dict[str, tuple[str, ...]] = RISK_ENTITIES) -> Lexicon:
    """HurtLex lemmas of `levels` (one to three plain words) plus the curated entities.

    A HurtLex lemma found in more than `max_benign_docs` of `benign_texts` is pruned as ambiguous:
    it occurs in ordinary text, so its presence is not evidence of explicit harm. Entities are never pruned.
    """
    candidates: dict[str, str] = {}
    for row in hurtlex_rows:
        lemma = row["lemma"].strip().lower()
        if row["level"] in levels and _LEMMA_OK.match(lemma) and len(lemma.split()) <= 3:
            candidates.setdefault(_norm(lemma), f"hurtlex:{row['category']}")
    probe = Lexicon(candidates)
    doc_counts: Counter = Counter()
    for text in benign_texts:
        doc_counts.update({term for term, _ in probe.matches(text)})
    pruned = sorted(t for t in candidates if doc_counts[t] > max_benign_docs)
    sources = {t: s for t, s in candidates.items() if t not in set(pruned)}
    for category, terms in entities.items():
        for term in terms:
            sources[_norm(term)] = f"entity:{category}"
    return Lexicon(sources, pruned)
