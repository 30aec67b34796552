"""Find risk entities in text: one Aho-Corasick automaton over normalised text, whole words only.

Text and entities are normalised the same way (`normalise`): Unicode NFKC, case-folded, invisible
format characters (zero-width spaces, soft hyphens) removed, and every run of spaces, hyphens and
underscores made one space — so "Crystal-Meth", "crystal  meth" and "crys\u200btal meth" all read
"crystal meth". A match must start and end at a word boundary ("class" does not contain "ass": the
Scunthorpe problem), except that a plural "s"/"es" may follow.

Scripts written without spaces between words — CJK ideographs, Hiragana, Katakana, Thai, Lao, Khmer,
Myanmar — have no boundaries to test: "毒品" is found in "买毒品吧", and a character of such a script
next to a Latin word is a boundary ("买cocaine"). Hangul keeps the whole-word rule: Korean is written
with spaces, though a particle joined to a noun ("마약을") then hides it — store such forms if needed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

import ahocorasick

_SEPARATORS = re.compile(r"[\s\-_\u2010-\u2015]+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _SEPARATORS.sub(" ", text.casefold())


_UNSPACED = re.compile(
    "[\u0e00-\u0eff"                        # Thai, Lao
    "\u1000-\u109f\u1780-\u17ff"            # Myanmar, Khmer
    "\u3005\u3007\u3040-\u30ff\u31f0-\u31ff"  # 々 〇, Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")  # CJK ideographs


def _unspaced(ch: str) -> bool:
    return bool(_UNSPACED.match(ch))


def _joined(left: str, right: str) -> bool:
    """Whether two adjacent characters belong to one word: no word boundary lies between them."""
    return left.isalnum() and right.isalnum() and not (_unspaced(left) or _unspaced(right))


@dataclass(frozen=True)
class Match:
    entity: str      # normalised entity
    category: str
    start: int       # offsets into normalise(text)
    end: int


class EntityMatcher:
    """Whole-word matches of `entities` ({entity: category}) in normalised text."""

    def __init__(self, entities: dict[str, str] | Iterable[tuple[str, str]]):
        pairs = entities.items() if isinstance(entities, dict) else entities
        self.entities = {normalise(e).strip(): c for e, c in pairs}
        self._automaton = ahocorasick.Automaton()
        for entity, category in self.entities.items():
            if entity:
                self._automaton.add_word(entity, (entity, category))
        self._empty = not len(self._automaton)
        if not self._empty:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.entities)

    def find(self, text: str, normalised: bool = False) -> list[Match]:
        """Matches in `text`, left to right. The end of the text counts as a word boundary, so in a
        text cut mid-stream (generation) an entity that ends exactly at the end counts as complete."""
        norm = text if normalised else normalise(text)
        if self._empty:
            return []
        found = []
        for last, (entity, category) in self._automaton.iter(norm):
            start, end = last - len(entity) + 1, last + 1
            if start > 0 and _joined(norm[start - 1], entity[0]):
                continue
            if self._ends_word(norm, end, entity):
                found.append(Match(entity, category, start, end))
        return found

    @staticmethod
    def _ends_word(norm: str, end: int, entity: str) -> bool:
        if end == len(norm) or not _joined(entity[-1], norm[end]):
            return True
        for suffix in ("s", "es"):
            stop = end + len(suffix)
            if norm[end:stop] == suffix and (stop == len(norm) or not _joined(suffix[-1], norm[stop])):
                return True
        return False

    def contains(self, text: str) -> bool:
        return bool(self.find(text))


def false_positive_rate(matcher: EntityMatcher, texts: Iterable[str]) -> dict:
    """Share of benign `texts` in which the matcher finds an entity (the Scunthorpe problem), with the
    entities found most often."""
    texts = list(texts)
    hits: dict[str, int] = {}
    flagged = 0
    for text in texts:
        found = {m.entity for m in matcher.find(text)}
        flagged += bool(found)
        for entity in found:
            hits[entity] = hits.get(entity, 0) + 1
    top = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return {"texts": len(texts), "flagged": flagged, "rate": flagged / len(texts) if texts else 0.0,
            "top_entities": dict(top)}
