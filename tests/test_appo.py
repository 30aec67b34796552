"""APPO: GRPO's sequence advantages spread over tokens and masked; M ≡ 1 leaves GRPO's advantages."""

import datasets
import pytest
import torch

from safealign.align.appo import adaptive_grpo_class, sequence_reward, token_advantages
from safealign.align.masks import MaskSettings

FIXED = MaskSettings(kappa=None, delta=0.5, baseline="zero")


def test_positive_advantages_keep_good_tokens_and_negative_ones_keep_bad_tokens():
    adv = torch.tensor([2.0, -1.0])
    rewards = torch.tensor([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
    valid = torch.ones(2, 3, dtype=torch.bool)
    masked, mask = token_advantages(adv, rewards, valid, FIXED)
    assert mask.tolist() == [[1, 0, 0], [0, 0, 1]]
    assert masked.tolist() == [[2.0, 0.0, 0.0], [0.0, 0.0, -1.0]]
    signed, _ = token_advantages(adv, rewards, valid, MaskSettings(kappa=None, delta=0.5, baseline="zero",
                                                                   combination="signed"))
    assert signed.tolist() == [[2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]  # a bad token of a rejected answer: pushed down


def test_an_all_good_batch_with_positive_advantages_is_grpo_broadcast():
    adv = torch.tensor([0.5, 1.5])
    masked, _ = token_advantages(adv, torch.full((2, 4), 3.0), torch.ones(2, 4, dtype=torch.bool), FIXED)
    assert torch.equal(masked, adv[:, None].expand(2, 4))


class ParityReward:
    identity = {"reward": "parity"}

    def per_token(self, prompt_ids, completion_ids):
        return [1.0 if t % 2 == 0 else -1.0 for t in completion_ids]


def test_appo_generates_scores_masks_and_trains_through_trl(tiny, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    _, model, tokenizer, _ = tiny
    prompts = datasets.Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in
                                                     ["Hi", "Tell me a joke.", "How do I cook rice?", "Name a colour."]]})
    reward = ParityReward()
    config = GRPOConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, bf16=False, max_steps=1,
                        per_device_train_batch_size=4, num_generations=2, max_completion_length=8,
                        learning_rate=1e-5, save_strategy="no", seed=0, logging_steps=1)

    class Seeing(adaptive_grpo_class(GRPOTrainer)):
        """Keeps what TRL's loss receives, and the sequence advantages GRPO computed before masking."""

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            self.sequence_advantages = self.grpo_advantages
            return out

        def _compute_loss(self, model, inputs):
            self.loss_advantages = inputs["advantages"].detach().clone()
            return super()._compute_loss(model, inputs)

    original = GRPOTrainer._generate_and_score_completions

    def keep_grpo_advantages(self, inputs):
        out = original(self, inputs)
        self.grpo_advantages = out["advantages"].detach().clone()
        return out

    GRPOTrainer._generate_and_score_completions = keep_grpo_advantages
    try:
        trainer = Seeing(model=model, args=config, train_dataset=prompts, processing_class=tokenizer,
                         reward_funcs=[sequence_reward(reward, tokenizer)], mask_settings=FIXED, token_reward=reward)
        result = trainer.train()
    finally:
        GRPOTrainer._generate_and_score_completions = original
    assert result.global_step == 1
    assert trainer.last_masks is not None and trainer.last_masks.shape[0] == 4
    assert set(trainer.last_masks.unique().tolist()) <= {0, 1}
    # TRL's loss gets (B, T) advantages: GRPO's sequence advantage on each kept token, 0 elsewhere (TRL shuffles
    # the generation batch before the loss, so rows are compared as a multiset)
    seen = trainer.loss_advantages
    expected = trainer.sequence_advantages[:, None] * trainer.last_masks

    def rows(t):
        return sorted(tuple(round(v, 5) + 0.0 for v in row) for row in t.tolist())

    assert seen.dim() == 2 and seen.shape == trainer.last_masks.shape
    assert rows(seen) == rows(expected) and (expected != 0).any()
