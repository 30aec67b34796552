"""General capability: benchmark items in lm-eval's formats, the book's own scorer (`benchmarks`) and
lm-evaluation-harness as the engine (`harness`).

A package of its own, beside the evaluation wing rather than inside it, because every model's capability
scores are kept (generate.answer_cache) under a key that digests the code computing them and everything it
imports: inside `evaluate/`, whose __init__ re-exports the whole evaluation (judges, alignment, models),
any change to a judge or a trainer recomputed every model's capability (~30 min a model on cpu).
"""
