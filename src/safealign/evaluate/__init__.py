"""The evaluation wing: metrics (S, ASR, toxicity, refusal rates), the benchmark runs, general capability."""

from .run import *  # noqa: F401,F403
