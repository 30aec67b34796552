"""How many prompts paper A's comparisons need: a 6-point difference in S or ASR, same prompts, paired test.

Two models answering the same prompts differ only where their verdicts disagree (the discordant share ψ),
so the precision of a paired test (McNemar, as the book's claims use) depends on ψ, not on S itself. From
the committed cpu verdicts (book/answers/cpu/<model>.verdicts.jsonl) this script measures ψ between the
base model and each aligned model, and between the aligned models, on ALERT and on adversarial ALERT, and
prints the prompts needed (Connor 1987, normal approximation of McNemar's test, two-sided α = 0.05):

    n = (z_{α/2} √ψ + z_β √(ψ − δ²))² / δ²,  δ = 0.06

for 50% power (a 6-point difference observed at exactly that size is significant) and 80% power (a true
6-point difference is found four times in five), then the generation time this costs per model at the cpu
profile's measured seconds per prompt (its results' generation_seconds / prompts). Every ALERT category
(32) and attack (4) stays represented when the size is spread evenly over them, as the profile does.

    python scripts/precision_sizes.py [--delta 0.06] [--profile cpu]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path
from statistics import NormalDist, median

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = {"alert": "S (ALERT)", "alert_adversarial": "ASR (adversarial ALERT)"}
GENERATION_KEY = {"alert": "alert", "alert_adversarial": "adversarial"}
STRATA = {"alert": 32, "alert_adversarial": 4}


def verdicts(path: Path) -> dict[str, dict[str, bool]]:
    """{benchmark: {prompt: safe}} of one model's committed verdicts."""
    out: dict[str, dict[str, bool]] = {b: {} for b in BENCHMARKS}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            row = json.loads(line)
            if row.get("benchmark") in BENCHMARKS:
                if "safe" not in row:
                    raise ValueError(f"{path}:{line_no}: a {row['benchmark']} verdict without the key 'safe'")
                out[row["benchmark"]][row["prompt"]] = bool(row["safe"])
    return out


def discordant(a: dict[str, bool], b: dict[str, bool]) -> float:
    """The share of the prompts both models answered on which their verdicts differ."""
    shared = set(a) & set(b)
    if not shared:
        raise ValueError("the two models share no prompt")
    return sum(a[p] != b[p] for p in shared) / len(shared)


def prompts_needed(psi: float, delta: float, power: float, alpha: float = 0.05) -> int:
    z = NormalDist().inv_cdf
    if psi <= delta ** 2:
        psi = delta ** 2 + 1e-9  # every disagreement goes one way: the smallest ψ that allows δ
    n = (z(1 - alpha / 2) * math.sqrt(psi) + z(power) * math.sqrt(psi - delta ** 2)) ** 2 / delta ** 2
    return math.ceil(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delta", type=float, default=0.06)
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    answers, results = ROOT / "book/answers" / args.profile, ROOT / "book/results" / args.profile / "eval"
    models = sorted(p.name[: -len(".verdicts.jsonl")] for p in answers.glob("*.verdicts.jsonl"))
    if "base" not in models:
        raise FileNotFoundError(f"{answers}/base.verdicts.jsonl: the base model's verdicts are needed")
    table = {m: verdicts(answers / f"{m}.verdicts.jsonl") for m in models}
    aligned = [m for m in models if m != "base"]
    for bench, title in BENCHMARKS.items():
        per_prompt = []
        for m in models:
            result = json.loads((results / f"{m}.json").read_text())
            per_prompt.append(result["generation_seconds"][GENERATION_KEY[bench]] / len(table[m][bench]))
        sec = median(per_prompt)
        print(f"\n{title}: {len(table['base'][bench])} prompts now; {sec:.2f} s per prompt to generate "
              f"(median over {len(models)} models, cpu)")
        groups = {"base vs aligned": [("base", m) for m in aligned],
                  "aligned vs aligned": list(itertools.combinations(aligned, 2))}
        for name, pairs in groups.items():
            psis = sorted(discordant(table[a][bench], table[b][bench]) for a, b in pairs)
            psi = median(psis)
            n50, n80 = prompts_needed(psi, args.delta, 0.5), prompts_needed(psi, args.delta, 0.8)
            n80_max = prompts_needed(psis[-1], args.delta, 0.8)
            per = math.ceil(n80 / STRATA[bench])
            print(f"  {name:<19} ψ median {psi:.3f} (range {psis[0]:.3f}-{psis[-1]:.3f}, {len(pairs)} pairs): "
                  f"n = {n50} (50% power), {n80} (80%; {n80_max} at the largest ψ) = {per} per "
                  f"{'category' if bench == 'alert' else 'attack'}; {n80 * sec / 60:.0f} min of generation per model")


if __name__ == "__main__":
    main()
