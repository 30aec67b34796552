"""SFT on a paper B mixture goes through TRL's SFTTrainer with the loss on the answer only."""

import pytest
import torch

from safealign.align import sft
from safealign.align.trainers import kind
from safealign.data import mixing


def rows():
    general = [{"prompt": f"What is {i} plus {i}?", "answer": f"It is {2 * i}.", "source": "gsm8k"} for i in range(8)]
    typed = {t: [{"prompt": f"{t} request {i}", "answer": "I can't help with that, but here is why.", "source": "pku"}
                 for i in range(4)] for t in mixing.HARM_TYPES}
    return mixing.build(mixing.MixturePoint("p", "fig3", 6, {"IHD": 2, "EHD": 1, "MHD": 1}, 0), general, typed)


def test_mixture_rows_become_prompt_completion_pairs():
    data = sft.sft_dataset(rows())
    assert len(data) == 10 and data[0]["prompt"][0]["role"] == "user" and data[0]["completion"][0]["role"] == "assistant"
    with pytest.raises(ValueError, match="mixture row 0: expected one user turn then one assistant turn"):
        sft.sft_dataset([{"messages": [{"role": "assistant", "content": "x"}]}])


def test_sft_trains_on_answers_only(tiny, tmp_path):
    _, model, tokenizer, _ = tiny
    common = dict(output_dir=str(tmp_path), seed=0, report_to="none", use_cpu=True, bf16=False, max_length=64,
                  per_device_train_batch_size=4, max_steps=2, learning_rate=1e-4, save_strategy="no", logging_steps=1)
    config = kind("sft").make_config("nll", {}, common, 64)
    trainer = kind("sft").make_trainer(config, model, None, rows(), None,
                                       dict(model=model, args=config, processing_class=tokenizer))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    labelled = batch["labels"] != -100
    assert labelled.any() and (labelled.sum(1) < batch["attention_mask"].sum(1)).all()  # prompt tokens are -100
    answers = {m["messages"][1]["content"] for m in rows()}
    for i in range(2):
        trained_on = tokenizer.decode(batch["input_ids"][i][labelled[i]], skip_special_tokens=True).strip()
        assert trained_on in answers, trained_on
    result = trainer.train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))
