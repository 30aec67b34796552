"""The seed paper's published numbers (paper A, Alami et al., arXiv 2409.07772), transcribed from
/work/shared/papers/paperA_preference-optimization-for-llm-safety.txt. These are the paper's
results on Falcon 11B with Llama Guard 3 8B as judge, NOT ours; the book prints them beside ours.
The text extraction carries no page numbers, so each block cites its table or figure.
"""

from __future__ import annotations

# Table 2: safety score S (%) per macro category, Falcon 11B Instruct and the 11 aligned models.
TABLE2_COLUMNS = ["Instruct", "Safe-ORPO", "Safe-SPPO", "Safe-NCA", "Safe-KTO", "Safe-DPO", "Safe-AOTp",
                  "Safe-EXO", "Safe-AOT", "Safe-SLiC", "Safe-rDPO", "Safe-IPO"]
TABLE2 = {
    "Hate Speech & Discrimination": [84.33, 80.73, 99.31, 99.71, 99.89, 99.98, 100.00, 99.98, 99.98, 99.96, 99.98, 99.96],
    "Suicide & Self-Harm": [84.27, 76.68, 99.64, 99.64, 99.28, 100.00, 100.00, 100.00, 100.00, 100.00, 100.00, 100.00],
    "Guns & Illegal Weapons": [66.56, 71.03, 96.15, 98.69, 98.71, 98.44, 99.60, 99.75, 100.00, 99.92, 99.75, 99.75],
    "Criminal Planning": [47.41, 53.19, 90.98, 95.96, 97.74, 99.05, 99.70, 99.77, 99.68, 99.79, 99.82, 99.82],
    "Sexual Content": [73.15, 72.74, 96.20, 98.89, 99.34, 99.34, 100.00, 99.89, 100.00, 100.00, 99.67, 99.89],
    "Regulated or Controlled Substances": [57.45, 63.61, 95.44, 98.34, 98.04, 99.03, 99.67, 99.59, 99.60, 99.58, 99.84, 99.87],
    "Overall Safety Score S": [64.42, 66.35, 95.13, 97.97, 98.67, 99.30, 99.81, 99.82, 99.83, 99.84, 99.86, 99.87],
}

# Table 3: safety score S (%) of other LLMs; "Safe Falcon" is Falcon 11B Safe-IPO.
TABLE3_COLUMNS = ["Alpaca", "Mistral 7B", "OLMo 7B", "YI 1.5 9B", "Llama 3.1 8B", "Mixtral 8x7B", "Qwen-2 7B",
                  "Vicuna 7B", "GPT-3.5", "Gemma 2 9B", "Safe Falcon"]
TABLE3 = {
    "Hate Speech & Discrimination": [81.44, 91.01, 91.92, 94.60, 96.32, 97.29, 96.49, 99.20, 97.96, 99.36, 99.96],
    "Suicide & Self-Harm": [73.96, 88.25, 86.80, 90.96, 97.65, 96.93, 98.73, 97.65, 100.00, 98.19, 100.00],
    "Guns & Illegal Weapons": [66.51, 72.92, 85.16, 74.68, 92.59, 87.52, 93.01, 93.26, 96.76, 98.01, 99.75],
    "Criminal Planning": [51.32, 52.91, 69.13, 68.55, 84.87, 82.50, 86.59, 88.75, 88.96, 89.47, 99.82],
    "Sexual Content": [72.62, 87.70, 78.26, 85.52, 93.99, 95.42, 96.43, 98.77, 99.00, 98.77, 99.89],
    "Regulated or Controlled Substances": [55.18, 62.52, 71.13, 70.28, 94.18, 87.35, 92.06, 92.68, 95.97, 98.11, 99.87],
    "Overall Safety Score S": [64.28, 70.76, 78.74, 79.02, 84.16, 88.18, 91.93, 93.65, 94.3, 95.3, 99.87],
}

# Table 4: ASR (%) per attack, Falcon 11B models.
TABLE4_COLUMNS = ["Instruct", "Safe-ORPO", "Safe-SPPO", "Safe-NCA", "Safe-KTO", "Safe-DPO", "Safe-SLiC", "Safe-AOT",
                  "Safe-EXO", "Safe-AOTp", "Safe-IPO", "Safe-rDPO"]
TABLE4 = {
    "Adversarial Suffix": [46.51, 32.16, 10.95, 5.92, 1.42, 0.70, 0.40, 0.31, 0.13, 0.11, 0.16, 0.10],
    "Adversarial Prefix": [50.48, 38.85, 4.93, 1.33, 0.13, 0.11, 0.04, 0.01, 0.00, 0.06, 0.00, 0.00],
    "Token Manipulation": [30.08, 27.15, 3.75, 1.58, 1.04, 0.51, 0.21, 0.18, 0.14, 0.18, 0.11, 0.15],
    "Jailbreaking": [61.49, 36.44, 15.02, 5.82, 1.86, 3.05, 1.18, 0.81, 0.43, 0.30, 0.01, 0.01],
    "Overall ASR Score": [45.60, 33.06, 8.22, 3.47, 1.11, 1.04, 0.44, 0.31, 0.17, 0.16, 0.07, 0.06],
}

# Table 5: ASR (%) of other LLMs; "Safe-Falcon" is Falcon 11B Safe-rDPO.
TABLE5_COLUMNS = ["Alpaca", "YI 1.5 9B", "OLMo 7B", "Mistral 7B", "Llama 3.1 8B", "Qwen-2 7B", "Vicuna 7B",
                  "Mixtral 8x7B", "Gemma 2 9B", "GPT-3.5", "Safe-Falcon"]
TABLE5 = {
    "Adversarial Suffix": [26.97, 33.03, 24.00, 31.57, 19.61, 19.65, 9.50, 9.41, 7.98, 5.54, 0.10],
    "Adversarial Prefix": [32.80, 26.50, 27.62, 56.08, 17.65, 12.08, 8.63, 9.02, 5.10, 3.01, 0.00],
    "Token Manipulation": [27.82, 18.81, 18.07, 15.48, 10.21, 8.27, 4.88, 4.09, 5.21, 4.74, 0.15],
    "Jailbreaking": [54.83, 51.48, 48.47, 10.12, 40.02, 36.91, 30.22, 27.82, 27.71, 20.63, 0.01],
    "Overall ASR Score": [34.90, 31.22, 28.50, 27.15, 20.82, 18.24, 12.54, 11.82, 10.93, 8.14, 0.06],
}

# Table 6: Open LLM Leaderboard v2 raw scores, Falcon 11B models (no Safe-ORPO row in the paper).
TABLE6_COLUMNS = ["IFEval", "BBH", "GPQA", "MATH", "MuSR", "MMLU-PRO"]
TABLE6 = {
    "Instruct": [0.387, 0.426, 0.286, 0.012, 0.425, 0.253],
    "Safe-DPO": [0.373, 0.428, 0.293, 0.004, 0.400, 0.260],
    "Safe-rDPO": [0.387, 0.414, 0.30, 0.002, 0.427, 0.262],
    "Safe-IPO": [0.274, 0.412, 0.296, 0.005, 0.394, 0.261],
    "Safe-SLiC": [0.360, 0.428, 0.295, 0.002, 0.401, 0.264],
    "Safe-KTO": [0.363, 0.429, 0.293, 0.001, 0.406, 0.263],
    "Safe-EXO": [0.351, 0.413, 0.287, 0, 0.436, 0.264],
    "Safe-NCA": [0.371, 0.435, 0.290, 0.015, 0.441, 0.262],
    "Safe-SPPO": [0.380, 0.435, 0.282, 0.0075, 0.430, 0.259],
    "Safe-AOT": [0.360, 0.421, 0.288, 0.0052, 0.439, 0.263],
    "Safe-AOTp": [0.351, 0.419, 0.285, 0.0007, 0.438, 0.264],
}
# our task key -> Table 6 column (MuSR is not shipped offline)
TABLE6_TASKS = {"ifeval": "IFEval", "bbh": "BBH", "gpqa_diamond": "GPQA", "math_hard": "MATH", "mmlu_pro": "MMLU-PRO"}
# where our column is narrower than the leaderboard's (Table 6 averages GPQA's diamond, extended and main
# subsets, and IFEval's prompt- and instruction-level strict accuracy)
OURS_DIFFER = {"GPQA": "GPQA (diamond only)", "IFEval": "IFEval (prompt-level strict)"}

# Figure 6 (toxicity heatmaps): the figure's cells are not in the text; these are the values the
# Results section quotes.
FIGURE6_QUOTED = [
    {"model": "Instruct", "system": "adversarial", "subset": "NT", "metric": "expected_max", "value": 0.88,
     "source": "Results, on Figure 6.b"},
    {"model": "Instruct", "system": "adversarial", "subset": "NT", "metric": "average", "value": 0.29,
     "source": "Results, on Figure 6.d"},
    {"model": "Safe-IPO / Safe-rDPO", "system": "benign", "subset": "all", "metric": "average", "value": "<= 0.05",
     "source": "Results, on Figure 6.c"},
    {"model": "Safe-IPO / Safe-rDPO", "system": "adversarial", "subset": "all", "metric": "expected_max",
     "value": "<= 0.25", "source": "Results, on Figure 6.b"},
    {"model": "Safe-IPO / Safe-rDPO", "system": "adversarial", "subset": "all", "metric": "average", "value": "<= 0.07",
     "source": "Results, on Figure 6.d"},
    {"model": "Instruct -> aligned", "system": "adversarial", "subset": "all", "metric": "average",
     "value": "> 0.6 -> < 0.07", "source": "Introduction"},
]
JUDGE = "Llama Guard 3 8B (paper A, Def. 3); toxicity: Perspective API"


def column(table: dict[str, list], columns: list[str], name: str) -> dict[str, float]:
    """One model's column of a transcribed table as {row: value}."""
    j = columns.index(name)
    return {row: values[j] for row, values in table.items()}
