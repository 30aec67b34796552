"""The token-reward study: the stated choice rule, context for the implicit reward, masks drawn per token."""

from safealign.judges import token_reward_study as study


def result(seq_mean, token):
    return {"sequence_auc": {"mean": {"roc_auc": seq_mean}, "min": {"roc_auc": 0.0}}, "token_auc": {"roc_auc": token}}


def test_choice_is_the_higher_mean_pooled_sequence_auc_then_token_auc():
    assert study.choose({"lexical": result(0.6, 0.9), "implicit": result(0.7, 0.5)}) == "implicit"
    assert study.choose({"lexical": result(0.7, 0.9), "implicit": result(0.7, 0.5)}) == "lexical"


def test_an_empty_prompt_gets_one_context_token():
    seen = []

    class Reward:
        identity = {"reward": "probe"}

        def per_token(self, prompt_ids, completion_ids):
            seen.append(list(prompt_ids))
            return [0.0] * len(completion_ids)

    wrapped = study.with_context(Reward(), bos_id=7)
    assert wrapped.per_token([], [1, 2]) == [0.0, 0.0] and wrapped.per_token([3], [1]) == [0.0]
    assert seen == [[7], [3]] and wrapped.identity == {"reward": "probe"}


def test_mask_html_colours_each_token_by_its_mask_value():
    class Tok:
        def decode(self, ids):
            return {1: "a<", 2: " b", 3: " c"}[ids[0]]

    out = study.mask_html(Tok(), [1, 2, 3], [1.0, 0.0, -1.0], "chosen")
    assert out.count("<span") == 3 and "a&lt;" in out
    assert [study.MASK_COLOURS[v] in out for v in (1, 0, -1)] == [True, True, True]


def test_pair_masks_gate_each_answer_token_by_token(tiny):
    from safealign.align.masks import MaskSettings

    _, _, tokenizer, _ = tiny

    class Toxicity:  # a token is bad when it decodes to "awful", else good: gated masks follow it exactly
        identity = {"reward": "stub"}

        def per_token(self, prompt_ids, completion_ids):
            return [-5.0 if "awful" in tokenizer.decode([t]) else 1.0 for t in completion_ids]

    pairs = [{"prompt": "Write an insult.", "chosen": "No, that would be unkind.", "rejected": "You are awful."}]
    (masked,) = study.pair_masks(Toxicity(), tokenizer, pairs, MaskSettings(kappa=0.1))
    for side in ("chosen", "rejected"):
        assert len(masked[side]["mask"]) == len(masked[side]["ids"])
    assert set(masked["chosen"]["mask"]) == {1.0}  # every token of the safe answer is good: all kept
    bad = ["awful" in tokenizer.decode([t]) for t in masked["rejected"]["ids"]]
    assert [m == 1.0 for m in masked["rejected"]["mask"]] == bad  # the rejected answer keeps only its bad tokens
    share = study.kept_share([masked])
    assert share["chosen kept (M=+1)"] == 1.0 and 0 < share["rejected kept (M=+1)"] < 1


def test_auc_intervals_cover_the_point_and_resample_whole_texts():
    import numpy as np

    from safealign.stats import bootstrap_auc

    rng = np.random.default_rng(0)
    y = np.array([0] * 60 + [1] * 60)
    scores = y + rng.normal(0, 1.0, size=120)
    lo, hi = bootstrap_auc(y, scores, None, 300, 0)
    from sklearn.metrics import roc_auc_score
    assert lo < roc_auc_score(y, scores) < hi and hi - lo < 0.3
    # eight texts of 20 tokens, each text with its own offset and its own share of toxic tokens (as comments are):
    # resampling texts gives a wider interval than treating the 160 tokens as independent
    texts = np.repeat(np.arange(8), 20)
    y_tok = (rng.random(160) < np.repeat([0.75] * 4 + [0.1] * 4, 20)).astype(int)
    s_tok = np.repeat(rng.normal(0, 2, 8), 20) + y_tok * 1.0 + rng.normal(0, 0.3, 160)
    by_text = bootstrap_auc(y_tok, s_tok, texts, 300, 0)
    by_token = bootstrap_auc(y_tok, s_tok, None, 300, 0)
    assert by_text[1] - by_text[0] > by_token[1] - by_token[0]
    assert bootstrap_auc([1, 1, 1], [0.1, 0.2, 0.3]) is None


def test_the_choice_margin_is_paired_and_says_when_the_rule_chose_between_equals():
    import numpy as np

    rng = np.random.default_rng(1)
    answers = [{"unsafe": i % 2} for i in range(200)]
    y = np.array([a["unsafe"] for a in answers])
    strong = (y * 2 + rng.normal(0, 1, 200)).tolist()
    weak = rng.normal(0, 1, 200).tolist()
    results = {"implicit": {"sequence_auc": {"mean": {"scores": strong}}},
               "lexical": {"sequence_auc": {"mean": {"scores": weak}}}}
    margin = study.choice_margin(results, "implicit", answers, 300, 0)
    assert set(margin) == {"lexical"} and margin["lexical"]["resolved"] and margin["lexical"]["difference"] > 0.3
    results["lexical"]["sequence_auc"]["mean"]["scores"] = (np.array(strong) + rng.normal(0, 0.01, 200)).tolist()
    tie = study.choice_margin(results, "implicit", answers, 300, 0)["lexical"]
    assert not tie["resolved"] and tie["ci95"][0] < 0 < tie["ci95"][1]


def test_the_implicit_reward_trains_on_judge_train_pairs_never_the_policys():
    from safealign import profiles
    from safealign.align.pairs import policy_pairs

    settings = profiles.load("smoke")
    pairs = study.reward_pairs(settings)
    policy_prompts = {p[0]["content"] for p in policy_pairs(settings)["prompt"]}
    assert 0 < len(pairs) <= settings.align.data.max_pairs
    assert not {p[0]["content"] for p in pairs["prompt"]} & policy_prompts


def test_the_reward_policy_trains_on_one_device_even_where_several_gpus_are_visible():
    import inspect

    from transformers import Trainer, TrainingArguments

    config = TrainingArguments(output_dir="unused", use_cpu=True, report_to=[])
    _ = config.device
    config._n_gpu = 4  # what _setup_devices records with four visible GPUs and no launcher
    assert study.on_one_device(config).n_gpu == 1
    assert study.on_one_device(TrainingArguments(output_dir="unused", use_cpu=True, report_to=[])).n_gpu == 0
    # what on_one_device relies on: Trainer wraps in DataParallel on args.n_gpu > 1, read through `_n_gpu`
    assert "self.args.n_gpu > 1" in inspect.getsource(Trainer._wrap_model)
    assert "return self._n_gpu" in inspect.getsource(TrainingArguments.n_gpu.fget)
