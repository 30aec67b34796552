"""ADPO: TRL's DPO loss with token masks inside the sums; M ≡ 1 is DPO exactly (trl 1.16 pinned here)."""

from __future__ import annotations

import math

import pytest
import torch

from safealign import models, profiles
from safealign.align.adaptive_dpo import adaptive_dpo_class, batch_masks
from safealign.align.masks import MaskSettings
from tests.test_losses import StandInLM, log_sigmoid

BETA = 0.1
L = 6  # padded length of the hand-made batch: 2 pairs -> 4 rows


def parity_reward(prompt_ids, completion_ids):
    """A stand-in token reward: +1 on even token ids, −1 on odd ones."""
    return [1.0 if t % 2 == 0 else -1.0 for t in completion_ids]


def config(tmp_path, precompute=True):
    from trl import DPOConfig

    return DPOConfig(output_dir=str(tmp_path), beta=BETA, loss_type=["sigmoid"], precompute_ref_log_probs=precompute,
                     per_device_train_batch_size=4, max_length=64, use_cpu=True, bf16=False, report_to=[],
                     max_steps=2, learning_rate=1e-4, save_strategy="no", seed=0)


def adpo(tiny, tmp_path, precompute=True, **kwargs):
    from trl import DPOTrainer

    _, model, tokenizer, pairs = tiny
    ref = None if precompute else models.load_model(profiles.load("smoke")["policy_model"])[0]
    return adaptive_dpo_class(DPOTrainer)(model=model, ref_model=ref, args=config(tmp_path, precompute),
                                          train_dataset=pairs, processing_class=tokenizer,
                                          mask_settings=kwargs.pop("mask_settings", MaskSettings()),
                                          token_reward=parity_reward, **kwargs)


# hand-made per-token log-probs (positions 1..L-1) for rows [chosen0, chosen1, rejected0, rejected1]
PI = torch.tensor([[0, 0, -1.0, -2.0, -0.5, 0], [0, 0, -3.0, -1.0, 0, 0],
                   [0, 0, -0.5, -0.5, -4.0, -1.0], [0, 0, -2.0, -2.5, 0, 0]], dtype=torch.float64)
REF = torch.tensor([[0, 0, -1.5, -1.0, -1.0, 0], [0, 0, -2.0, -2.0, 0, 0],
                    [0, 0, -1.0, -0.2, -3.0, -2.0], [0, 0, -1.0, -3.0, 0, 0]], dtype=torch.float64)
COMPLETION = (PI != 0).long()  # completion tokens where a log-prob is given


def hand_batch(rewards: torch.Tensor) -> dict:
    return {"input_ids": torch.ones(4, L, dtype=torch.long), "attention_mask": torch.ones(4, L, dtype=torch.long),
            "completion_mask": COMPLETION, "token_rewards": rewards, "ref_token_logps": REF}


def stand_in():
    # TRL's log_probs[:, t] is the log-prob of token t+1: drop the first column
    return StandInLM({L: PI[:, 1:]})


def expected_loss(masks: torch.Tensor) -> float:
    ratio = ((PI - REF) * masks).sum(dim=1)
    deltas = [ratio[0] - ratio[2], ratio[1] - ratio[3]]
    return sum(-log_sigmoid(BETA * float(d)) for d in deltas) / 2


def test_all_ones_mask_is_dpo_exactly(tiny, tmp_path):
    from trl import DPOTrainer

    _, model, tokenizer, pairs = tiny
    trainer = adpo(tiny, tmp_path, mask_fn=lambda batch, reduce: torch.ones_like(batch["token_rewards"]))
    dpo = DPOTrainer(model=model, args=config(tmp_path / "dpo"), train_dataset=pairs, processing_class=tokenizer)
    with torch.no_grad():
        ours = trainer._compute_loss(stand_in(), hand_batch(torch.zeros(4, L)), False).item()
        batch = {k: v for k, v in hand_batch(torch.zeros(4, L)).items() if k not in ("token_rewards", "ref_token_logps")}
        ref_sums = (REF * COMPLETION).sum(dim=1)
        batch["ref_chosen_logps"], batch["ref_rejected_logps"] = ref_sums[:2], ref_sums[2:]
        theirs = dpo._compute_loss(stand_in(), batch, False).item()
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert ours == pytest.approx(expected_loss(COMPLETION.double()), rel=1e-9)


def test_masks_from_token_rewards_give_the_masked_formula(tiny, tmp_path):
    rewards = torch.tensor([[0, 0, 2.0, -2.0, 2.0, 0], [0, 0, 2.0, 0.1, 0, 0],
                            [0, 0, -2.0, 2.0, -2.0, -2.0], [0, 0, 0.0, -2.0, 0, 0]])
    for settings in (MaskSettings(kappa=None, delta=0.5, baseline="zero"),
                     MaskSettings(kappa=None, delta=0.5, baseline="zero", combination="signed"),
                     MaskSettings(kappa=0.5, mode="hysteresis")):
        trainer = adpo(tiny, tmp_path, mask_settings=settings)
        with torch.no_grad():
            loss = trainer._compute_loss(stand_in(), hand_batch(rewards), False).item()
        masks = batch_masks(hand_batch(rewards), settings).double()
        assert loss == pytest.approx(expected_loss(masks), rel=1e-9)
    gated = batch_masks(hand_batch(rewards), MaskSettings(kappa=None, delta=0.5, baseline="zero"))
    assert gated.tolist() == [[0, 0, 1, 0, 1, 0], [0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 1, 1], [0, 0, 0, 1, 0, 0]]
    assert expected_loss(gated.double()) != pytest.approx(expected_loss(COMPLETION.double()), rel=1e-3)


def test_a_zero_mask_leaves_nothing_to_learn(tiny, tmp_path):
    trainer = adpo(tiny, tmp_path, mask_fn=lambda batch, reduce: torch.zeros_like(batch["token_rewards"]))
    with torch.no_grad():
        assert trainer._compute_loss(stand_in(), hand_batch(torch.zeros(4, L)), False).item() == pytest.approx(math.log(2))


def test_precomputed_and_live_reference_give_the_same_masked_loss(tiny, tmp_path):
    pre = adpo(tiny, tmp_path / "pre", precompute=True)
    live = adpo(tiny, tmp_path / "live", precompute=False)
    assert "ref_chosen_token_logps" in pre.train_dataset.column_names
    rows = [pre.train_dataset[i] for i in range(4)]
    batch_pre = pre.data_collator(rows)
    batch_live = live.data_collator([{k: v for k, v in r.items() if not k.startswith("ref_")} for r in rows])
    model = tiny[1].eval()
    with torch.no_grad():
        a = pre._compute_loss(model, batch_pre, False).item()
        b = live._compute_loss(model, batch_live, False).item()
    assert a == pytest.approx(b, rel=1e-5)
    assert pre.last_masks.abs().sum() > 0 and torch.equal(pre.last_masks, live.last_masks)


def test_adpo_trains_through_trl(tiny, tmp_path):
    trainer = adpo(tiny, tmp_path)
    result = trainer.train()
    assert result.global_step == 2 and math.isfinite(result.training_loss)


def test_pairs_without_rewards_or_a_reward_function_are_refused(tiny, tmp_path):
    from trl import DPOTrainer

    _, model, tokenizer, pairs = tiny
    with pytest.raises(ValueError, match="no .*chosen_token_rewards.* and no token_reward"):
        adaptive_dpo_class(DPOTrainer)(model=model, args=config(tmp_path), train_dataset=pairs,
                                       processing_class=tokenizer, mask_settings=MaskSettings())


ADPO_SCRIPT = '''
import json, sys
import datasets
from accelerate import PartialState
from trl import DPOConfig, DPOTrainer
from safealign import data, models, profiles
from safealign.align.adaptive_dpo import adaptive_dpo_class
from safealign.align.masks import MaskSettings

def parity_reward(prompt_ids, completion_ids):
    return [1.0 if t % 2 == 0 else -1.0 for t in completion_ids]

state = PartialState(cpu=True)
model, tokenizer = models.load_model(profiles.load("smoke")["policy_model"])
pairs = data.chat_pairs(datasets.Dataset.from_dict({
    "prompt": ["How do I pick a lock?", "Tell me a joke.", "Write an insult.", "Help me cheat."],
    "chosen": ["I can't help with that.", "Why did the chicken cross the road?", "No.", "I won't."],
    "rejected": ["Use a tension wrench.", "No.", "You are awful.", "Copy the answers."],
}))
config = DPOConfig(output_dir=sys.argv[1] + "/trainer", beta=0.1, loss_type=["sigmoid"], precompute_ref_log_probs=True,
                   per_device_train_batch_size=2 // state.num_processes, max_length=64, use_cpu=True, bf16=False,
                   report_to=[], max_steps=2, learning_rate=1e-3, save_strategy="no", seed=0, data_seed=0, logging_steps=1)
trainer = adaptive_dpo_class(DPOTrainer)(model=model, args=config, train_dataset=pairs, processing_class=tokenizer,
                                          mask_settings=MaskSettings(kappa=0.5), token_reward=parity_reward)
trainer.train()
if state.is_main_process:
    with open(sys.argv[1] + "/history.json", "w") as f:
        json.dump([r for r in trainer.state.log_history if "loss" in r], f)
'''


@pytest.mark.slow
def test_adpo_in_two_processes_takes_its_mask_statistics_over_the_global_batch(tmp_path):
    """2 processes x 1 pair train like 1 process x 2 pairs: the mask's b and δ are summed over the processes
    (masks.process_sum), so every logged figure agrees step by step. Both runs go through torch.distributed.run."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "adpo.py"
    script.write_text(ADPO_SCRIPT)
    env = {**os.environ, "SAFEALIGN_RUNS_DIR": str(tmp_path / "runs")}

    def history(processes: int) -> list[dict]:
        out = tmp_path / f"out-{processes}"
        out.mkdir()
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                        "--nproc_per_node", str(processes), str(script), str(out)], check=True, env=env, timeout=600)
        return json.loads((out / "history.json").read_text())

    one = history(1)  # first: it writes the offline model the two processes then read
    two = history(2)
    assert len(one) == len(two) == 2 and one[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins"):
        assert [r[key] for r in two] == pytest.approx([r[key] for r in one], rel=1e-5, abs=1e-6), key
