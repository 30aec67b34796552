"""Token-level safety rewards: human span labels per token, the lexical reward, DPO's implicit reward."""

import pytest
import torch

from safealign import models, profiles
from safealign.judges.token_reward import ImplicitReward, LexicalTokenReward, sequence_auc, token_auc, token_labels


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer("smollm2-135m-instruct")


def spans_of(text, word):
    start = text.index(word)
    return list(range(start, start + len(word)))


def test_a_token_is_toxic_when_a_non_space_character_of_it_is_in_a_span(tok):
    text = "you are an idiot and a fool"
    ids, labels = token_labels(tok, text, spans_of(text, "idiot"))
    marked = "".join(tok.decode([i]) for i, lab in zip(ids, labels) if lab)
    assert marked.strip() == "idiot" and sum(labels) >= 1
    assert not any(token_labels(tok, text, [])[1])


def test_the_lexical_reward_is_lower_for_tokens_people_mark_toxic(tok):
    rows = [{"text": t, "spans": spans_of(t, "idiot")} for t in
            ["you idiot", "what an idiot", "idiot again", "the idiot left"]] * 5
    reward = LexicalTokenReward(tok, rows)
    idiot = tok.encode(" idiot", add_special_tokens=False)
    the = tok.encode(" the", add_special_tokens=False)
    assert max(reward.per_token([], idiot)) < min(reward.per_token([], the))
    scores = reward.score([[1, 2]], torch.tensor([[the[0], idiot[0]]]))
    assert scores.shape == (1, 2) and scores[0, 1] < scores[0, 0]
    auc = token_auc(reward, tok, rows[:4])
    assert auc["roc_auc"] == 1.0 and auc["toxic_tokens"] >= 4


def test_the_implicit_reward_of_a_policy_against_itself_is_zero_and_follows_beta(tok):
    model, _ = models.load_model(profiles.load("smoke")["policy_model"])
    other, _ = models.load_model(profiles.load("smoke")["policy_model"])
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01 * torch.randn_like(p))
    prompt, answer = tok.encode("Hi there", add_special_tokens=False), tok.encode(" hello you", add_special_tokens=False)
    same = ImplicitReward(model, model, beta=0.1, identity={"policy": "tiny"})
    assert same.per_token(prompt, answer) == pytest.approx([0.0] * len(answer), abs=1e-6)
    r1 = ImplicitReward(other, model, beta=0.1, identity={}).per_token(prompt, answer)
    r2 = ImplicitReward(other, model, beta=0.2, identity={}).per_token(prompt, answer)
    assert len(r1) == len(answer) and r2 == pytest.approx([2 * v for v in r1], rel=1e-5)
    cand = torch.tensor([answer[:2]])
    assert ImplicitReward(other, model, beta=0.1, identity={}).score([prompt], cand)[0, 0].item() == pytest.approx(r1[0], rel=1e-4)


def test_sequence_auc_pools_token_rewards(tok):
    rows = [{"text": "you idiot", "spans": spans_of("you idiot", "idiot")}] * 10
    reward = LexicalTokenReward(tok, rows)
    out = sequence_auc(reward, tok, ["q"] * 4, ["you idiot", "hello", "what an idiot", "fine thanks"], [1, 0, 1, 0])
    assert out["roc_auc"] == 1.0 and out["n"] == 4


class _OnDevice(torch.nn.Module):
    """A stand-in LM whose weights sit on the meta device: it records where its input ids were built."""

    def __init__(self, vocab=8):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(1, device="meta"))
        self.vocab, self.seen = vocab, []

    def forward(self, input_ids):
        self.seen.append(input_ids.device.type)
        return type("Out", (), {"logits": torch.zeros(*input_ids.shape, self.vocab)})()


def test_the_implicit_reward_feeds_each_model_on_its_own_device_and_answers_on_the_cpu():
    policy, reference = _OnDevice(), _OnDevice()
    reward = ImplicitReward(policy, reference, beta=0.1, identity={})
    assert reward.per_token([1], [2, 3]) == [0.0, 0.0]
    assert reward.score([[1, 2]], torch.tensor([[3, 4]])).device.type == "cpu"
    assert policy.seen == reference.seen == ["meta", "meta"]


def test_the_implicit_reward_refuses_an_empty_prompt():
    with pytest.raises(ValueError, match="at least one prompt token"):
        ImplicitReward(_OnDevice(), _OnDevice(), beta=0.1, identity={}).per_token([], [2, 3])


def test_ids_past_the_tokenizer_get_the_lexical_base_rate(tok):
    reward = LexicalTokenReward(tok, [{"text": "you idiot", "spans": spans_of("you idiot", "idiot")}] * 3)
    padded = len(tok) + 5   # a model's logits can be wider than its tokenizer (Qwen2: 152,064 vs 151,646)
    scores = reward.score([[1]], torch.tensor([[padded, 0]]))
    assert scores[0, 0].item() == pytest.approx(reward.unseen) and scores[0, 1].item() == reward.table[0].item()
