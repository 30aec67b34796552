"""Training mixtures of paper B's data study (§3.1, §4.1): a general pool plus safety data by harm type.

A mixture point names how many general rows and how many safety rows of each type (IHD, EHD, MHD) it
takes, and a seed. Rows are drawn from one seeded permutation per pool, taking a prefix, so a larger
point of a sweep holds every row of a smaller one with the same seed: along a curve, only the added
data changes. An *unselected* point draws its safety rows from the union of the type pools, whatever
their type (paper B's baseline for the fine-grained mixture).

    points = sweep(grid)                                   # Figures 2, 3/5 and the fine-grained mixture
    rows = build(point, general, pools)                    # chat rows for TRL's SFTTrainer
    assert_disjoint(rows, test_prompts)                    # no evaluation prompt in any training mixture
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

HARM_TYPES = ("IHD", "EHD", "MHD")
UNSELECTED = "unselected"


@dataclass(frozen=True)
class MixturePoint:
    name: str
    figure: str                                  # "fig2" | "fig3" | "fine" | "unselected"
    general: int
    safety: Mapping[str, int] = field(default_factory=dict)   # per harm type, or {"unselected": n}
    seed: int = 0

    @property
    def safety_rows(self) -> int:
        return int(sum(self.safety.values()))

    def counts(self) -> dict:
        return {"general": self.general, **{k: int(v) for k, v in self.safety.items()}}


def _check_grid(grid: Mapping) -> None:
    needed = ("general", "seeds", "fig2_levels", "fig3_ihd", "fig3_ehd", "mhd_small", "mhd_at_ihd", "fine",
              "unselected_scale")
    missing = [k for k in needed if k not in grid]
    if missing:
        raise ValueError(f"mixing grid: missing key {missing[0]!r} (needs {needed})")
    if len(grid["fig2_levels"]) < 5 or len(grid["fig3_ihd"]) < 3 or len(grid["fig3_ehd"]) < 4:
        raise ValueError("mixing grid: Figure 2 needs >= 5 levels, Figures 3/5 >= 3 IHD and >= 4 EHD levels")
    if not grid["seeds"]:
        raise ValueError("mixing grid: seeds is empty (give at least one seed)")
    if not (isinstance(grid["general"], int) and grid["general"] >= 1):
        raise ValueError(f"mixing grid: general must be a whole number of rows >= 1, got {grid['general']!r}")
    for key in ("fig2_levels", "fig3_ihd", "fig3_ehd", "mhd_at_ihd", "mhd_small"):
        values = grid[key] if isinstance(grid[key], (list, tuple)) else [grid[key]]
        bad = [v for v in values if not (isinstance(v, int) and v >= 0)]
        if bad:
            raise ValueError(f"mixing grid: {key} must hold whole numbers of rows >= 0, got {bad}")
    bad = [s for s in grid["unselected_scale"] if not s > 0]
    if bad:
        raise ValueError(f"mixing grid: unselected_scale must be > 0, got {bad}")
    stray = sorted(set(grid["mhd_at_ihd"]) - set(grid["fig3_ihd"]))
    if stray:
        raise ValueError(f"mixing grid: mhd_at_ihd {stray} are not IHD levels of fig3_ihd {list(grid['fig3_ihd'])}")
    for key in ("IHD", "EHD", "MHD"):
        if not 0 < grid["fine"].get(key, 0) < 1:
            raise ValueError(f"mixing grid: fine.{key} must be a ratio to the general pool in (0, 1)")


def sweep(grid: Mapping) -> list[MixturePoint]:
    """Every point of the study from a grid (the profile's `mixing.grid`):

    - fig2: total safety data grown over `fig2_levels`, drawn from the union of the type pools whatever their
      type (the pools' own proportions: paper B grows its safety set, not a designed mixture);
    - fig3: IHD fixed at each of `fig3_ihd` while EHD grows over `fig3_ehd` (Figure 5), and at the IHD levels
      `mhd_at_ihd` the same curve with `mhd_small` MHD rows added (Figure 3: IHD and MHD fixed, EHD grows);
    - fine: paper B's ratios `fine.{IHD,EHD,MHD}` of the general pool, against unselected mixtures of
      the same total x each of `unselected_scale` (1 = equal size, 2 = twice);
    each for the first seed, and the fine and unselected points for every seed in `seeds`.
    """
    _check_grid(grid)
    general, seeds = int(grid["general"]), list(grid["seeds"])
    points = [MixturePoint(f"fig2-{n}", "fig2", general, {UNSELECTED: int(n)}, seeds[0]) for n in grid["fig2_levels"]]
    for ihd in grid["fig3_ihd"]:
        for mhd in (0, int(grid["mhd_small"])) if ihd in grid["mhd_at_ihd"] else (0,):
            for ehd in grid["fig3_ehd"]:
                name = f"fig3-ihd{ihd}-ehd{ehd}" + (f"-mhd{mhd}" if mhd else "")
                points.append(MixturePoint(name, "fig3", general, {"IHD": ihd, "EHD": ehd, "MHD": mhd}, seeds[0]))
    fine = {t: max(1, round(general * grid["fine"][t])) for t in HARM_TYPES}
    for seed in seeds:
        points.append(MixturePoint(f"fine-s{seed}", "fine", general, fine, seed))
        for scale in grid["unselected_scale"]:
            n = round(sum(fine.values()) * scale)
            points.append(MixturePoint(f"unselected-x{scale:g}-s{seed}", "unselected", general, {UNSELECTED: n}, seed))
    names = [p.name for p in points]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"mixing grid gives duplicate points {duplicates}: make its levels distinct")
    return points


def _prefix(rows: Sequence[dict], n: int, seed: int, what: str) -> list[dict]:
    if not 0 <= n <= len(rows):
        raise ValueError(f"mixture asks for {n} {what} rows but the pool holds {len(rows)}")
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i] for i in order[:n]]


def chat_row(prompt: str, answer: str, source: str, harm_type: str) -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
            "prompt": prompt, "source": source, "harm_type": harm_type}


def build(point: MixturePoint, general: Sequence[dict], pools: Mapping[str, Sequence[dict]]) -> list[dict]:
    """The chat rows of `point`: general rows and safety rows ({prompt, answer, source}), shuffled."""
    rows = [chat_row(r["prompt"], r["answer"], r["source"], "general")
            for r in _prefix(general, point.general, point.seed, "general")]
    for kind, n in point.safety.items():
        if kind == UNSELECTED:
            union = [dict(r, harm_type=t) for t in HARM_TYPES for r in pools[t]]
            picked = _prefix(union, n, point.seed, "unselected safety")
            rows += [chat_row(r["prompt"], r["answer"], r["source"], r["harm_type"]) for r in picked]
        else:
            if kind not in pools:
                raise ValueError(f"mixture {point.name!r} asks for harm type {kind!r}; pools hold {sorted(pools)}")
            rows += [chat_row(r["prompt"], r["answer"], r["source"], kind)
                     for r in _prefix(pools[kind], n, point.seed + 1 + HARM_TYPES.index(kind), kind)]
    order = np.random.default_rng(point.seed).permutation(len(rows))
    return [rows[i] for i in order]


def counts(rows: Sequence[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["harm_type"]] = out.get(r["harm_type"], 0) + 1
    return out


def fold(text: str) -> str:
    """Whitespace- and case-folded text: two prompts are the same prompt when their folds are equal."""
    return " ".join(text.split()).casefold()


def assert_disjoint(rows: Sequence[dict], test_prompts: Sequence[str], what: str = "evaluation") -> None:
    """Raise if any training row's prompt is one of `test_prompts` (compared after whitespace/case folding)."""
    held = {fold(p) for p in test_prompts}
    leaked = [r["prompt"] for r in rows if fold(r["prompt"]) in held]
    if leaked:
        raise ValueError(f"{len(leaked)} training prompts are {what} prompts, e.g. {leaked[0][:80]!r}")
