"""scripts/paper_b_summary.py: the README's paper B numbers, read from the results, a missing one named."""

import importlib.util
from pathlib import Path


def load_script():
    spec = importlib.util.spec_from_file_location("paper_b_summary",
                                                  Path(__file__).parents[1] / "scripts" / "paper_b_summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RESULTS = {
    "paper_b_table": {
        "claims": [{"claim (paper B, Table 1)": "ARS is safer than RS on IHD", "ours": "+0.210 [+0.100, +0.310]",
                    "n": 100, "paper B": "+0.104", "verdict": "reproduced"}],
        "table": {"ours: ARS": {"safety IHD": "0.890 [0.810, 0.940] (n=100)", "safety natural (ALERT S)": "0.850"},
                  "paper B: +ARJ": {"safety IHD": "0.952"}}},
    "token_rewards": {"chosen": "implicit", "candidates": {
        "implicit": {"sequence_auc": {"mean": {"roc_auc": 0.635}}},
        "lexical": {"sequence_auc": {"mean": {"roc_auc": 0.58}}}}},
}


def test_every_number_comes_from_a_result_and_a_missing_result_is_named(monkeypatch):
    script = load_script()

    def read_result(profile, name):
        if name not in RESULTS:
            raise FileNotFoundError(name)
        return RESULTS[name]

    monkeypatch.setattr(script.io, "read_result", read_result)
    lines = script.summary("cpu")
    assert "- ARS is safer than RS on IHD: ours +0.210 [+0.100, +0.310] (n = 100), paper B +0.104: **reproduced**" in lines
    assert "- ARS: IHD 0.890 [0.810, 0.940] (n=100); natural (ALERT S) 0.850" in lines
    assert not any("+ARJ" in line for line in lines)        # paper B's own columns are not ours
    assert "- token reward chosen: **implicit** (mean-pooled sequence ROC-AUC: implicit 0.635, lexical 0.580)" in lines
    assert lines[-1] == "(no mixing_study result: run the stage mixing-study)"
