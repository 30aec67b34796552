"""A pickle reader that builds only the classes it is told to: for files that come from outside.

`pickle.load` runs whatever callable a file names, so a tampered file is arbitrary code. Here every
global the stream asks for must be on an explicit allow-list, and may be mapped to a harmless stand-in
(e.g. the Keras `Tokenizer` becomes a plain attribute bag: we only need its vocabulary).
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any, Mapping


class UnpicklingRefused(pickle.UnpicklingError):
    """The pickle names a class or function that is not on the allow-list."""


class AttributeBag:
    """Stand-in for an allowed foreign class: keeps the pickled state as attributes, runs no code."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise UnpicklingRefused(f"expected a dict state for {type(self).__name__}, got {type(state).__name__}")
        self.__dict__.update(state)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed: Mapping[tuple[str, str], Any], source: str):
        super().__init__(file)
        self._allowed = allowed
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnpicklingRefused(
                f"{self._source}: refusing to load {module}.{name}; allowed: "
                f"{sorted(f'{m}.{n}' for m, n in self._allowed)}"
            ) from None


def restricted_load(path: str | Path, allowed: Mapping[tuple[str, str], Any]) -> Any:
    """Unpickle `path`, resolving globals only through `allowed` ({(module, name): object})."""
    with open(path, "rb") as f:
        return _RestrictedUnpickler(f, allowed, str(path)).load()


KERAS_TOKENIZER_CLASSES: dict[tuple[str, str], Any] = {
    ("keras.src.legacy.preprocessing.text", "Tokenizer"): AttributeBag,
    ("keras.preprocessing.text", "Tokenizer"): AttributeBag,
    ("keras_preprocessing.text", "Tokenizer"): AttributeBag,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "int"): int,
}
