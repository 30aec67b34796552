"""The generation wing: the backend contract, the transformers backend (generate.hf) and the answer cache."""
