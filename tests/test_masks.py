"""Paper B's token masks (eqs. 8, 12, 13) on hand-made reward sequences."""

import pytest
import torch

from safealign.align.masks import MaskSettings, classes, combine, sft_labels, token_masks

T, F = True, False


def r(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_dead_zone_is_eq_13_token_by_token():
    rewards = r([0.9, 0.55, 0.1, 0.5, 0.61])
    valid = torch.ones_like(rewards, dtype=torch.bool)
    assert classes(rewards, valid, 0.5, 0.1, "dead_zone").tolist() == [[1, 0, -1, 0, 1]]


def test_hysteresis_keeps_the_last_class_inside_the_neutral_zone():
    rewards = r([0.5, 0.7, 0.55, 0.45, 0.3, 0.45, 0.65])
    valid = torch.ones_like(rewards, dtype=torch.bool)
    assert classes(rewards, valid, 0.5, 0.1, "dead_zone").tolist() == [[0, 1, 0, 0, -1, 0, 1]]
    assert classes(rewards, valid, 0.5, 0.1, "hysteresis").tolist() == [[0, 1, 1, 1, -1, -1, 1]]


def test_invalid_tokens_get_zero_and_reset_the_trigger_per_row():
    rewards = r([0.9, 0.5, 0.5, 0.5], [0.5, 0.5, 0.0, 0.5])
    valid = torch.tensor([[T, T, F, T], [F, T, T, T]])
    assert classes(rewards, valid, 0.5, 0.1, "hysteresis").tolist() == [[1, 1, 0, 0], [0, 0, -1, -1]]


def test_gated_keeps_good_chosen_tokens_and_bad_rejected_tokens():
    cls = torch.tensor([[1, 0, -1]])
    assert combine(cls, True, "gated").tolist() == [[1, 0, 0]]
    assert combine(cls, False, "gated").tolist() == [[0, 0, 1]]


def test_signed_pushes_good_tokens_up_and_bad_down_in_both_answers():
    cls = torch.tensor([[1, 0, -1]])
    assert combine(cls, True, "signed").tolist() == [[1, 0, -1]]
    assert combine(cls, False, "signed").tolist() == [[-1, 0, 1]]  # the DPO loss subtracts the rejected sum
    assert combine(torch.tensor([[1], [1]]), torch.tensor([True, False]), "signed").tolist() == [[1], [-1]]


def test_baseline_and_offset_come_from_the_valid_tokens_of_the_whole_batch():
    chosen, rejected = r([1.0, 1.0, 9.0]), r([0.0, 0.0, -9.0])
    cv, rv = torch.tensor([[T, T, F]]), torch.tensor([[T, T, F]])
    # valid rewards 1, 1, 0, 0: b = 0.5, std = 0.5; kappa 0.5 -> delta 0.25
    m_w, m_l = token_masks(chosen, cv, rejected, rv, MaskSettings(kappa=0.5))
    assert m_w.tolist() == [[1, 1, 0]] and m_l.tolist() == [[1, 1, 0]]
    m_w, m_l = token_masks(chosen, cv, rejected, rv, MaskSettings(kappa=1.1))  # delta 0.55: all neutral
    assert m_w.sum() == 0 and m_l.sum() == 0
    m_w, _ = token_masks(chosen, cv, rejected, rv, MaskSettings(kappa=None, delta=2.0, baseline="zero"))
    assert m_w.sum() == 0


def test_with_a_process_sum_baseline_and_offset_are_those_of_the_global_batch():
    """Two processes, each with half the batch: summing (count, sum, squares) over both gives the b and δ one
    process holding the whole batch computes; each half alone gives others."""
    from safealign.align.masks import baseline, offset

    everything = torch.tensor([[3.0, -1.0, 2.0, 0.5, 4.0, -2.0]])
    valid = torch.ones_like(everything, dtype=torch.bool)
    halves = everything[:, :2], everything[:, 2:]
    settings = MaskSettings(kappa=0.5)

    def other_process_added(other):
        other_stats = torch.stack([torch.tensor(float(other.numel())), other.sum(), (other ** 2).sum()])
        return lambda stats: stats + other_stats

    for mine, other in (halves, halves[::-1]):
        v = torch.ones_like(mine, dtype=torch.bool)
        reduce = other_process_added(other)
        assert baseline(mine, v, reduce=reduce) == pytest.approx(float(baseline(everything, valid)))
        assert offset(mine, v, settings, reduce) == pytest.approx(float(offset(everything, valid, settings)))
        assert baseline(mine, v) != pytest.approx(float(baseline(everything, valid)))


def test_masked_sft_labels_are_minus_100_exactly_where_m_is_zero():
    labels = torch.tensor([[11, 12, 13, 14]])
    mask = torch.tensor([[1, 0, -1, 1]])
    keep, avoid = sft_labels(labels, mask)
    assert keep.tolist() == [[11, -100, -100, 14]] and avoid.tolist() == [[-100, -100, 13, -100]]
    assert ((keep == -100) & (avoid == -100)).tolist() == (mask == 0).tolist()


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "schmitt"}, "mask mode 'schmitt'"), ({"combination": "both"}, "mask combination 'both'"),
    ({"baseline": "median"}, "mask baseline 'median'"), ({"kappa": None}, "exactly one of kappa"),
    ({"kappa": 0.5, "delta": 0.1}, "exactly one of kappa"), ({"kappa": -1.0}, "must be >= 0"),
])
def test_bad_mask_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskSettings(**kwargs)
