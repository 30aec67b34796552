"""Paper B's adaptive runs (align.adaptive): their registry and stages, the kept answers' SFT rows, the mask
tally, best-of-N sampling that is seeded and cached."""

import pytest
import torch

from safealign.align import adaptive
from safealign.align.ars import ANSWER, AVOID
from safealign.align.masks import MaskSettings

FIXED = MaskSettings(kappa=None, delta=0.5, baseline="zero")


def test_every_paper_b_method_is_a_stage_of_its_own_and_paper_a_keeps_its_eleven():
    from safealign import pipeline
    from safealign.align import METHODS

    stages = {s.name: s for s in pipeline.stages("smoke")}
    assert len(METHODS) == 11 and not set(METHODS) & set(adaptive.PAPER_B_METHODS)
    for name, spec in adaptive.PAPER_B_METHODS.items():
        stage = stages[f"align-{name}"]
        assert stage.notebook == "12_adaptive_align.ipynb" and stage.params == {"method": name}
        assert "token-rewards" in stage.after and "adaptive" in stage.sections
        assert spec.baseline in adaptive.PAPER_B_METHODS or spec.baseline == "dpo"
    assert {m.baseline for m in adaptive.PAPER_B_METHODS.values() if m.masked} == {"dpo", "grpo", "rs"}
    with pytest.raises(KeyError, match="parameter `method`"):
        adaptive.adaptive_method("ppo")


SAMPLES = [{"prompt_ids": [1, 2], "answer_ids": [10, 11, 12], "token_rewards": [2.0, 0.0, -2.0]},
           {"prompt_ids": [3], "answer_ids": [13, 14], "token_rewards": [2.0, -2.0]}]


def test_rejection_sampling_learns_every_answer_token_and_ars_only_the_kept_ones():
    plain = adaptive.sft_rows(SAMPLES, None)
    assert plain[0] == {"input_ids": [1, 2, 10, 11, 12], "labels": [-100, -100, 10, 11, 12], AVOID: [-100] * 5,
                        ANSWER: [-100, -100, 10, 11, 12]}
    masked = adaptive.sft_rows(SAMPLES, FIXED)
    assert masked[0]["labels"] == [-100, -100, 10, -100, -100] and masked[1]["labels"] == [-100, 13, -100]
    assert [r["input_ids"] for r in masked] == [r["input_ids"] for r in plain]
    assert [r[ANSWER] for r in masked] == [r[ANSWER] for r in plain]   # both average over every answer token


def test_the_mask_tally_counts_answer_tokens_only():
    tally = adaptive.MaskTally()
    mask = torch.tensor([[1.0, 0.0, -1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    valid = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert tally.add(mask, valid) is mask
    assert tally.shares() == {"tokens": 5, "share_plus": 0.6, "share_zero": 0.2, "share_minus": 0.2}
    assert adaptive.MaskTally().shares()["share_plus"] is None


def test_pooling_and_the_memo():
    assert adaptive.pooled([1.0, -3.0], "mean") == -1.0 and adaptive.pooled([1.0, -3.0], "min") == -3.0
    assert adaptive.pooled([], "mean") == 0.0
    with pytest.raises(ValueError, match="adaptive.pooling 'max'"):
        adaptive.pooled([1.0], "max")

    class Counting:
        identity = {"reward": "counting"}
        calls = 0

        def per_token(self, prompt_ids, completion_ids):
            Counting.calls += 1
            return [float(t) for t in completion_ids]

    memo = adaptive.Memo(Counting())
    assert memo.per_token([1], [2, 3]) == [2.0, 3.0] and memo.per_token((1,), (2, 3)) == [2.0, 3.0]
    assert Counting.calls == 1 and memo.identity == {"reward": "counting"}


class ParityReward:
    identity = {"reward": "parity"}

    def per_token(self, prompt_ids, completion_ids):
        return [1.0 if t % 2 == 0 else -1.0 for t in completion_ids]


def test_best_of_n_keeps_the_highest_pooled_reward_and_is_seeded_and_cached(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEALIGN_RUNS_DIR", str(tmp_path))
    settings, _, tokenizer, _ = tiny
    prompts = ["Tell me a joke.", "How do I cook rice?"]
    samples = adaptive.best_of_n_samples(settings, prompts, ParityReward())
    assert [s["prompt"] for s in samples] == prompts
    for s in samples:
        assert len(s["candidates"]) == settings.adaptive.rs.n
        assert s["best"] == max(range(len(s["scores"])), key=lambda j: (s["scores"][j], -j))
        assert s["answer"] == s["candidates"][s["best"]]
        head, answer = adaptive.answer_ids(tokenizer, s["prompt"], s["answer"])
        assert (s["prompt_ids"], s["answer_ids"]) == (head, answer)
        assert s["token_rewards"] == ParityReward().per_token(head, answer)
    cached = list((tmp_path / "smoke" / "align" / ".best_of_n").glob("*.json"))
    assert len(cached) == 1
    cached[0].unlink()
    assert adaptive.best_of_n_samples(settings, prompts, ParityReward()) == samples  # the same seed, the same samples


BEST_OF_N_SCRIPT = '''
import json, os, sys
from accelerate import PartialState
from safealign import profiles
from safealign.align import adaptive

class CountingParity:
    identity = {"reward": "parity"}
    calls = 0
    def per_token(self, prompt_ids, completion_ids):
        CountingParity.calls += 1
        return [1.0 if t % 2 == 0 else -1.0 for t in completion_ids]

settings = profiles.override(profiles.load("smoke"), {"adaptive.rs.batch_size": 2})
prompts = json.loads(sys.argv[1])
reward = CountingParity()
samples = adaptive.best_of_n_samples(settings, prompts, reward)
state = PartialState()
with open(os.path.join(sys.argv[2], f"calls-{state.process_index}.json"), "w") as f:
    json.dump(reward.calls, f)
if state.is_main_process:
    with open(os.path.join(sys.argv[2], "samples.json"), "w") as f:
        json.dump(samples, f)
'''


@pytest.mark.slow
def test_best_of_n_in_two_processes_samples_what_one_process_samples_each_doing_half(tmp_path):
    """Launched RS / ARS runs call best_of_n_samples on every process: the generation batches are dealt out
    (batch 2 prompts: process 0 samples batches 0 and 2, process 1 batch 1), the main process gathers and
    writes, and the samples equal one process's, seed for seed. Both runs go through torch.distributed.run, so
    both compute with its one thread per process."""
    import json
    import os
    import subprocess
    import sys

    prompts = ["Hi.", "Tell me a joke.", "How do I cook rice?", "Name a colour.", "What is two plus two, please?"]
    script = tmp_path / "best_of_n.py"
    script.write_text(BEST_OF_N_SCRIPT)

    def launched(processes: int):
        out = tmp_path / f"out-{processes}"
        out.mkdir()
        env = {**os.environ, "SAFEALIGN_RUNS_DIR": str(tmp_path / f"runs-{processes}")}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                        "--nproc_per_node", str(processes), str(script), json.dumps(prompts), str(out)],
                       check=True, env=env, timeout=600)
        return out

    one, two = launched(1), launched(2)
    samples = json.loads((one / "samples.json").read_text())
    assert [s["prompt"] for s in samples] == prompts
    assert json.loads((two / "samples.json").read_text()) == samples
    n = profiles_smoke_rs_n()
    assert json.loads((one / "calls-0.json").read_text()) == 5 * n
    # 5 prompts in batches of 2: process 0 scores batches 0 and 2 (2 + 1 prompts), process 1 batch 1 (2 prompts)
    assert [json.loads((two / f"calls-{rank}.json").read_text()) for rank in (0, 1)] == [3 * n, 2 * n]


def profiles_smoke_rs_n() -> int:
    from safealign import profiles

    return profiles.load("smoke").adaptive.rs.n


def test_a_launched_run_tallies_the_masks_of_every_process():
    class TwoProcesses:  # accelerate's reduce over two processes whose tallies are equal
        num_processes, device = 2, "cpu"

        def reduce(self, tensor, reduction):
            assert reduction == "sum"
            return tensor * 2

    class OneProcess(TwoProcesses):
        num_processes = 1

    tally = adaptive.MaskTally()
    tally.add(torch.tensor([[1.0, 0.0, -1.0, 1.0]]), torch.tensor([[1, 1, 1, 0]]))
    assert tally.summed_over(OneProcess()).counts == {1: 1, 0: 1, -1: 1}
    assert tally.summed_over(TwoProcesses()).counts == {1: 2, 0: 2, -1: 2}
    assert tally.shares()["tokens"] == 6
