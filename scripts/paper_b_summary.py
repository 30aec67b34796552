"""Paper B's results of a profile as markdown, for the README: every number is read from book/results/.

    python scripts/paper_b_summary.py --profile cpu

Prints: each Table 1 claim with our paired difference, n and verdict; each model's safety per type and ALERT S;
the token reward chosen and its sequence AUC; the mixing study's verdict counts. A part whose result is missing
is named, not skipped.
"""

from __future__ import annotations

import argparse
from collections import Counter

from safealign import io

SAFETY_ROWS = ("safety IHD", "safety EHD", "safety MHD", "safety natural (ALERT S)")


def _read(profile: str, name: str) -> dict | None:
    try:
        return io.read_result(profile, name)
    except FileNotFoundError:
        return None


def claim_lines(table: dict) -> list[str]:
    key = next(k for k in table["claims"][0] if k.startswith("claim"))
    return [f"- {c[key]}: ours {c['ours']} (n = {c['n']}), paper B {c['paper B']}: **{c['verdict']}**"
            for c in table["claims"]]


def safety_lines(table: dict) -> list[str]:
    lines = []
    for column, cells in table["table"].items():
        if column.startswith("ours: "):
            shown = "; ".join(f"{row.removeprefix('safety ')} {cells[row]}" for row in SAFETY_ROWS if row in cells)
            lines.append(f"- {column.removeprefix('ours: ')}: {shown}")
    return lines


def token_reward_line(rewards: dict) -> str:
    aucs = ", ".join(f"{name} {m['sequence_auc']['mean']['roc_auc']:.3f}" for name, m in rewards["candidates"].items())
    return f"- token reward chosen: **{rewards['chosen']}** (mean-pooled sequence ROC-AUC: {aucs})"


def mixing_line(study: dict) -> str:
    counts = Counter(c["verdict"] for c in study["claims"])
    shown = ", ".join(f"{n} {verdict}" for verdict, n in counts.most_common())
    return f"- mixing study: {len(study['points'])} points, {len(study['claims'])} claim checks: {shown}"


def summary(profile: str) -> list[str]:
    out = []
    table = _read(profile, "paper_b_table")
    out += (["Table 1 claims:"] + claim_lines(table) + ["", "Safety per model:"] + safety_lines(table)
            if table else ["(no paper_b_table result: run the stage paper-b-table)"])
    rewards = _read(profile, "token_rewards")
    out.append(token_reward_line(rewards) if rewards else "(no token_rewards result: run the stage token-rewards)")
    study = _read(profile, "mixing_study")
    out.append(mixing_line(study) if study else "(no mixing_study result: run the stage mixing-study)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    print("\n".join(summary(args.profile)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
