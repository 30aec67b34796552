"""ARS: best of N by the reward, masked labels, and SFT whose loss is TRL's until M = −1 tokens appear."""

import datasets
import pytest
import torch

from safealign.align.ars import ANSWER, AVOID, best_of_n, masked_rows, masked_sft_class
from safealign.align.masks import MaskSettings


def test_best_of_n_keeps_the_highest_reward_and_the_first_of_ties():
    assert best_of_n([["a", "b", "c"], ["x", "y"]], [[0.1, 0.9, 0.5], [0.3, 0.3]]) == [1, 0]
    with pytest.raises(ValueError, match="prompt 0: 2 candidates but 1 rewards"):
        best_of_n([["a", "b"]], [[1.0]])


def test_masked_labels_are_minus_100_exactly_where_m_is_not_plus_one():
    rows = masked_rows([[1, 2], [3]], [[10, 11, 12], [13, 14]], [[2.0, 0.0, -2.0], [2.0, -2.0]],
                       MaskSettings(kappa=None, delta=0.5, baseline="zero", combination="signed"))
    assert rows[0] == {"input_ids": [1, 2, 10, 11, 12], "labels": [-100, -100, 10, -100, -100],
                       AVOID: [-100, -100, -100, -100, 12], ANSWER: [-100, -100, 10, 11, 12]}
    assert rows[1]["labels"] == [-100, 13, -100] and rows[1][AVOID] == [-100, -100, 14]
    gated = masked_rows([[1]], [[10, 11]], [[2.0, -2.0]], MaskSettings(kappa=None, delta=0.5, baseline="zero"))
    assert gated[0]["labels"] == [-100, 10, -100] and set(gated[0][AVOID]) == {-100}


def trainer(tiny, tmp_path, rows, cls=None, weight=1.0):
    from trl import SFTConfig, SFTTrainer

    _, model, tokenizer, _ = tiny
    config = SFTConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, bf16=False, max_length=64,
                       per_device_train_batch_size=2, max_steps=2, learning_rate=1e-4, save_strategy="no", seed=0)
    kwargs = dict(model=model, args=config, train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer)
    if cls is None:
        return masked_sft_class(SFTTrainer)(unlikelihood_weight=weight, **kwargs)
    return cls(**kwargs)


ROWS = [{"input_ids": [5, 6, 7, 8, 9], "labels": [-100, -100, 7, -100, 9], AVOID: [-100, -100, -100, 8, -100],
         ANSWER: [-100, -100, 7, 8, 9]},
        {"input_ids": [11, 12, 13], "labels": [-100, 12, 13], AVOID: [-100, -100, -100], ANSWER: [-100, 12, 13]}]


def _without(rows, *columns):
    return [{k: v for k, v in r.items() if k not in columns} for r in rows]


def _losses(tiny, tmp_path, ours_rows, trl_rows):
    from trl import SFTTrainer

    ours = trainer(tiny, tmp_path / "a", ours_rows)
    theirs = trainer(tiny, tmp_path / "b", trl_rows, cls=SFTTrainer)
    model = tiny[1].eval()
    with torch.no_grad():
        return (ours.compute_loss(model, ours.data_collator(ours_rows)).item(),
                theirs.compute_loss(model, theirs.data_collator(trl_rows)).item())


def test_when_every_answer_token_is_kept_the_loss_is_trls_sft_loss(tiny, tmp_path):
    rs_rows = [{**r, "labels": r[ANSWER], AVOID: [-100] * len(r["input_ids"])} for r in ROWS]
    ours, theirs = _losses(tiny, tmp_path, rs_rows, _without(rs_rows, AVOID, ANSWER))
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_masked_tokens_leave_the_average_over_every_answer_token(tiny, tmp_path):
    plain = [{**r, AVOID: [-100] * len(r["input_ids"])} for r in ROWS]   # 4 kept of 5 answer tokens
    ours, theirs = _losses(tiny, tmp_path, plain, _without(plain, AVOID, ANSWER))
    assert ours == pytest.approx(theirs * 4 / 5, rel=1e-6)   # TRL divides by the kept tokens, ARS by the answer's


def test_the_trainer_counts_answer_tokens_for_the_loss_scale(tiny, tmp_path):
    ours = trainer(tiny, tmp_path, ROWS)
    batch = ours.data_collator(ROWS)
    assert int(ours._get_num_items_in_batch([batch], torch.device("cpu"))) == 5   # labels alone: 4


def test_avoided_tokens_add_a_bounded_unlikelihood_term(tiny, tmp_path):
    import math

    from tests.test_losses import StandInLM

    ours = trainer(tiny, tmp_path, ROWS, weight=0.5)
    batch = ours.data_collator(ROWS)  # padded length 5; log_probs[:, t-1] is the log-prob of token t
    lp = torch.tensor([[0.0, -1.0, math.log(0.5), -2.0], [-0.5, -1.5, 0.0, 0.0]], dtype=torch.float64)
    with torch.no_grad():
        loss = ours.compute_loss(StandInLM({5: lp}), dict(batch)).item()
    kept = 1.0 + 2.0 + 0.5 + 1.5          # −log p of tokens 7, 9 (row 0) and 12, 13 (row 1)
    avoided = -math.log1p(-0.5)          # token 8 of row 0, p = 0.5
    assert loss == pytest.approx((kept + 0.5 * avoided) / 5, rel=1e-9)


def test_across_processes_the_unlikelihood_branch_is_scaled_as_trls_loss(tiny, tmp_path, monkeypatch):
    """The Trainer's token count is summed over processes and DDP averages gradients, so Trainer.compute_loss
    multiplies the loss by the process count: batches with avoided tokens must be scaled the same way."""
    import accelerate

    ours = trainer(tiny, tmp_path, ROWS)
    model = tiny[1].eval()
    plain = [{**r, AVOID: [-100] * len(r["input_ids"])} for r in ROWS]

    def loss(rows, processes):
        monkeypatch.setattr(accelerate.Accelerator, "num_processes", property(lambda self: processes))
        with torch.no_grad():
            return ours.compute_loss(model, ours.data_collator(rows), num_items_in_batch=torch.tensor(10)).item()

    assert ours.args.average_tokens_across_devices and ours.model_accepts_loss_kwargs
    for rows in (plain, ROWS):        # TRL's own branch, then the unlikelihood branch
        assert loss(rows, 2) == pytest.approx(2 * loss(rows, 1), rel=1e-6)


def test_ars_trains_through_trl(tiny, tmp_path):
    result = trainer(tiny, tmp_path, ROWS * 2).train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))
