"""Each Safe-* method's loss, as TRL computes it, equals the loss's formula written out independently.

The registry builds the real trainer (config included); the test hands it a stand-in language model
whose per-token log-probabilities are chosen by hand, so the number TRL returns can be compared with
paper A's Table 1 (or the original paper where the extraction garbled it). A wrong registry name
(e.g. `aot` vs `aot_unpaired`), a flipped sign or a missing constant (β, ε, λ) makes these fail.
Where TRL deliberately differs from the paper, the test says so and checks TRL's documented form.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from safealign import align, models

L = 8  # padded sequence length of the stand-in batches

# Four pairs of hand-made sequence log-probabilities: policy and reference, chosen (w) and rejected (l).
PI_W = [-10.0, -4.0, -7.5, -2.0]
PI_L = [-9.0, -8.0, -3.0, -6.5]
REF_W = [-9.5, -5.0, -6.0, -7.5]
REF_L = [-8.0, -6.5, -4.0, -5.0]
LEN_W = [3, 7, 5, 2]  # completion lengths in tokens (IPO normalises by them)
LEN_L = [6, 2, 4, 7]


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return math.exp(log_sigmoid(x))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def ratios():
    """Per pair: policy log-ratios Δ_w = log π(y_w)/π_ref(y_w), Δ_l likewise."""
    return [pw - rw for pw, rw in zip(PI_W, REF_W)], [pl - rl for pl, rl in zip(PI_L, REF_L)]


class StandInLM(torch.nn.Module):
    """Returns fixed per-token log-probs (by sequence length), in the shape of TRL's fused LM head output."""

    def __init__(self, log_probs_by_length: dict[int, torch.Tensor]):
        super().__init__()
        self.log_probs_by_length = log_probs_by_length

    def forward(self, input_ids, **_):
        lp = self.log_probs_by_length[input_ids.shape[1]]
        zeros = torch.zeros_like(lp)
        return SimpleNamespace(log_probs=lp, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())


def token_log_probs(totals: list[float], lengths: list[int], seq_len: int) -> torch.Tensor:
    """Per-token log-probs whose sum over each completion is `totals` (spread over its last tokens)."""
    lp = torch.zeros(len(totals), seq_len - 1, dtype=torch.float64)
    for i, (total, n) in enumerate(zip(totals, lengths)):
        lp[i, -n:] = total / n
    return lp


def completion_mask(lengths: list[int], seq_len: int) -> torch.Tensor:
    return (torch.arange(seq_len)[None, :] >= seq_len - torch.tensor(lengths)[:, None]).long()


def trainer_for(tiny, name: str, tmp_path, **overrides):
    settings, model, tokenizer, pairs = tiny
    hyper = {**align.hyperparameters(settings, name), **overrides}
    config = align.make_config(name, hyper, tmp_path, "cpu", 0, 64)
    ref = models.load_model(settings["policy_model"])[0] if align.uses_reference(name) else None
    return align.build_trainer(name, config, model, ref, tokenizer, pairs), hyper


def trl_pair_loss(trainer) -> float:
    """DPOTrainer's loss on the hand-made batch (reference log-probs precomputed, as in our recipe)."""
    assert trainer.precompute_ref_logps
    lengths = LEN_W + LEN_L
    inputs = {
        "input_ids": torch.ones(8, L, dtype=torch.long),
        "attention_mask": torch.ones(8, L, dtype=torch.long),
        "completion_mask": completion_mask(lengths, L),
        "ref_chosen_logps": torch.tensor(REF_W, dtype=torch.float64),
        "ref_rejected_logps": torch.tensor(REF_L, dtype=torch.float64),
    }
    lm = StandInLM({L: token_log_probs(PI_W + PI_L, lengths, L)})
    with torch.no_grad():
        return trainer._compute_loss(lm, inputs, return_outputs=False).item()


# --- the nine DPOTrainer losses ---------------------------------------------------------------


def test_registry_names_paper_a_methods():
    assert [m.label for m in align.METHODS.values()] == [
        "Safe-DPO", "Safe-rDPO", "Safe-IPO", "Safe-SLiC", "Safe-EXO", "Safe-NCA", "Safe-SPPO",
        "Safe-AOT", "Safe-AOTp", "Safe-KTO", "Safe-ORPO"]


def test_safe_dpo(tiny, tmp_path):
    trainer, h = trainer_for(tiny, "dpo", tmp_path)
    dw, dl = ratios()
    expected = mean(-log_sigmoid(h["beta"] * (w - l)) for w, l in zip(dw, dl))
    assert trl_pair_loss(trainer) == pytest.approx(expected, rel=1e-6)


def test_safe_rdpo_is_unbiased_robust_dpo_with_positive_epsilon(tiny, tmp_path):
    trainer, h = trainer_for(tiny, "rdpo", tmp_path)
    eps, beta = h["label_smoothing"], h["beta"]
    assert 0 < eps < 0.5
    dw, dl = ratios()
    expected = mean(
        -((1 - eps) * log_sigmoid(beta * (w - l)) - eps * log_sigmoid(-beta * (w - l))) / (1 - 2 * eps)
        for w, l in zip(dw, dl))
    assert trl_pair_loss(trainer) == pytest.approx(expected, rel=1e-6)
    assert expected != pytest.approx(mean(-log_sigmoid(beta * (w - l)) for w, l in zip(dw, dl)), rel=1e-3)


def test_safe_ipo_with_trls_length_normalisation(tiny, tmp_path):
    """Table 1: (h - 1/(2τ))² with h the difference of sequence log-ratios. TRL divides each log-ratio by its
    completion length first (agreed with the IPO authors, see dpo_trainer.py); τ is TRL's β."""
    trainer, h = trainer_for(tiny, "ipo", tmp_path)
    tau = h["beta"]
    dw, dl = ratios()
    normalised = mean((w / nw - l / nl - 1 / (2 * tau)) ** 2 for w, l, nw, nl in zip(dw, dl, LEN_W, LEN_L))
    per_sequence = mean((w - l - 1 / (2 * tau)) ** 2 for w, l in zip(dw, dl))
    loss = trl_pair_loss(trainer)
    assert loss == pytest.approx(normalised, rel=1e-6)
    assert loss != pytest.approx(per_sequence, rel=1e-3)  # the difference is real on these lengths


def test_safe_slic_hinge(tiny, tmp_path):
    trainer, h = trainer_for(tiny, "slic", tmp_path)
    dw, dl = ratios()
    expected = mean(max(0.0, 1 - h["beta"] * (w - l)) for w, l in zip(dw, dl))
    assert trl_pair_loss(trainer) == pytest.approx(expected, rel=1e-6)


def test_safe_exo_is_kl_between_policy_and_label_distributions(tiny, tmp_path):
    """EXO-pref (Ji et al. 2024, K=2): KL(p_fθ ‖ p_rh), p_fθ = softmax(β·[Δ_w, Δ_l]), p_rh = [1-ε, ε]."""
    trainer, h = trainer_for(tiny, "exo", tmp_path)
    beta, eps = h["beta"], h["label_smoothing"]
    assert eps == 1e-3
    dw, dl = ratios()

    def kl(w, l):
        q = torch.softmax(torch.tensor([beta * w, beta * l], dtype=torch.float64), 0).tolist()
        return sum(qi * math.log(qi / pi) for qi, pi in zip(q, [1 - eps, eps]))

    assert trl_pair_loss(trainer) == pytest.approx(mean(kl(w, l) for w, l in zip(dw, dl)), rel=1e-6)


def test_safe_nca_pair(tiny, tmp_path):
    """NCA for pairs (Chen et al. 2024): -log σ(r_w) - ½ log σ(-r_w) - ½ log σ(-r_l), r = β·Δ.
    (Paper A's Table 1 shows log σ(β(Δ_w - Δ_l)) as first term; we follow the original paper, as TRL does.)"""
    trainer, h = trainer_for(tiny, "nca", tmp_path)
    beta = h["beta"]
    dw, dl = ratios()
    expected = mean(-log_sigmoid(beta * w) - 0.5 * log_sigmoid(-beta * w) - 0.5 * log_sigmoid(-beta * l)
                    for w, l in zip(dw, dl))
    assert trl_pair_loss(trainer) == pytest.approx(expected, rel=1e-6)


def test_safe_sppo_hard(tiny, tmp_path):
    """SPPO with hard win probabilities (P=1 winner, 0 loser): (Δ_w - 1/(2β))² + (Δ_l + 1/(2β))²."""
    trainer, h = trainer_for(tiny, "sppo", tmp_path)
    beta = h["beta"]
    dw, dl = ratios()
    expected = mean((w - 0.5 / beta) ** 2 + (l + 0.5 / beta) ** 2 for w, l in zip(dw, dl))
    assert trl_pair_loss(trainer) == pytest.approx(expected, rel=1e-6)


def aot_expected(beta, eps, u, v):
    """Melnyk et al.: logistic loss on the sorted-quantile differences, label-smoothed by ε."""
    d = [a - b for a, b in zip(sorted(u), sorted(v))]
    return mean(-log_sigmoid(beta * x) * (1 - eps) - log_sigmoid(-beta * x) * eps for x in d)


def test_safe_aot_sorts_policy_against_reference_log_ratios(tiny, tmp_path):
    """Paired AOT: sorted policy log-ratios log π(y_w)/π(y_l) minus sorted reference log-ratios."""
    trainer, h = trainer_for(tiny, "aot", tmp_path)
    u = [w - l for w, l in zip(PI_W, PI_L)]
    v = [w - l for w, l in zip(REF_W, REF_L)]
    expected = aot_expected(h["beta"], h.get("label_smoothing", 0.0), u, v)
    loss = trl_pair_loss(trainer)
    assert loss == pytest.approx(expected, rel=1e-6)
    unsorted = mean(-log_sigmoid(h["beta"] * (a - b)) for a, b in zip(u, v))  # plain DPO on these pairs
    assert loss != pytest.approx(unsorted, rel=1e-3)


def test_safe_aotp_sorts_chosen_against_rejected_log_ratios(tiny, tmp_path):
    """Unpaired AOT ("AOTp" in paper A, `aot_unpaired` in TRL): sorted Δ_w minus sorted Δ_l."""
    trainer, h = trainer_for(tiny, "aotp", tmp_path)
    dw, dl = ratios()
    expected = aot_expected(h["beta"], h.get("label_smoothing", 0.0), dw, dl)
    loss = trl_pair_loss(trainer)
    assert loss == pytest.approx(expected, rel=1e-6)
    paired = aot_expected(h["beta"], 0.0, [w - l for w, l in zip(PI_W, PI_L)], [w - l for w, l in zip(REF_W, REF_L)])
    assert loss != pytest.approx(paired, rel=1e-3)  # the two AOT variants are not interchangeable


# --- KTO and ORPO -----------------------------------------------------------------------------


def test_safe_kto(tiny, tmp_path):
    """Table 1: E[λ_y - v(x,y)], v = λ_D σ(β(Δ - z0)) for safe answers and λ_U σ(β(z0 - Δ)) for unsafe ones.
    TRL estimates z0 = max(0, mean KL log-ratio of mismatched (x, y') pairs in the batch), detached."""
    trainer, h = trainer_for(tiny, "kto", tmp_path)
    assert trainer.precompute_ref_logps
    beta, lam_d, lam_u = h["beta"], h["desirable_weight"], h["undesirable_weight"]
    labels = [True, False, True, False, False, True]
    pi = [-4.0, -7.0, -9.0, -3.0, -6.0, -5.5]
    ref = [-5.0, -6.0, -8.0, -4.5, -6.0, -7.0]
    pi_kl = [-6.0, -5.0, -8.0, -7.0, -4.0, -6.5]  # mismatched completions, for the KL estimate
    ref_kl = [-6.5, -7.0, -7.0, -7.5, -5.0, -6.0]
    lengths = [3, 5, 2, 4, 6, 3]
    n, kl_len = len(labels), L - 2
    inputs = {
        "input_ids": torch.ones(n, L, dtype=torch.long), "attention_mask": torch.ones(n, L, dtype=torch.long),
        "completion_mask": completion_mask(lengths, L),
        "KL_input_ids": torch.ones(n, kl_len, dtype=torch.long),
        "KL_attention_mask": torch.ones(n, kl_len, dtype=torch.long),
        "KL_completion_mask": completion_mask([2] * n, kl_len),
        "label": torch.tensor(labels), "ref_logps": torch.tensor(ref, dtype=torch.float64),
        "ref_KL_logps": torch.tensor(ref_kl, dtype=torch.float64),
    }
    lm = StandInLM({L: token_log_probs(pi, lengths, L), kl_len: token_log_probs(pi_kl, [2] * n, kl_len)})
    with torch.no_grad():
        loss = trainer._compute_loss(lm, inputs, return_outputs=False).item()

    z0 = max(0.0, mean(p - r for p, r in zip(pi_kl, ref_kl)))
    assert z0 > 0  # the reference point matters on this batch
    per_answer = [lam_d - lam_d * sigmoid(beta * (p - r - z0)) if safe else lam_u - lam_u * sigmoid(beta * (z0 - (p - r)))
                  for safe, p, r in zip(labels, pi, ref)]
    assert loss == pytest.approx(mean(per_answer), rel=1e-6)


def test_safe_orpo(tiny, tmp_path):
    """Table 1: -log π(y_w|x) - λ log σ(log[odds(y_w) / odds(y_l)]), odds(y) = P(y|x) / (1 - P(y|x)).
    TRL's P(y|x) is the per-token geometric mean (length-normalised, as in Hong et al. eq. 2), λ is TRL's β,
    and TRL's NLL term averages over prompt and answer tokens; the NLL is passed in as is here."""
    trainer, h = trainer_for(tiny, "orpo", tmp_path)
    lam = h["beta"]
    avg_w = torch.tensor([-0.9, -2.0, -0.3, -1.5], dtype=torch.float64)  # mean log-prob per answer token
    avg_l = torch.tensor([-1.2, -0.7, -2.5, -1.5], dtype=torch.float64)
    nll = torch.tensor(1.7, dtype=torch.float64)
    logits = torch.zeros(4, 3, 5)
    trainer.concatenated_forward = lambda model, batch: (avg_w, avg_l, logits, logits, nll)
    loss, metrics = trainer.get_batch_loss_metrics(trainer.model, {})

    def log_odds(avg_logp):
        p = math.exp(avg_logp)
        return math.log(p / (1 - p))

    expected = 1.7 - lam * mean(log_sigmoid(log_odds(w) - log_odds(l)) for w, l in zip(avg_w.tolist(), avg_l.tolist()))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
