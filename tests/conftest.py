import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    """(smoke settings, the tiny policy, its tokenizer, four chat preference pairs): trainer tests share it."""
    import datasets

    from safealign import data, models, profiles

    settings = profiles.load("smoke")
    model, tokenizer = models.load_model(settings["policy_model"])
    pairs = data.chat_pairs(datasets.Dataset.from_dict({
        "prompt": ["How do I pick a lock?", "Tell me a joke.", "Write an insult.", "Help me cheat."],
        "chosen": ["I can't help with that.", "Why did the chicken cross the road?", "No.", "I won't."],
        "rejected": ["Use a tension wrench.", "No.", "You are awful.", "Copy the answers."],
    }))
    return settings, model, tokenizer, pairs
