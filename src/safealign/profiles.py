"""Profiles: the single place that sets every size (see profiles.yaml), loaded into typed settings.

Each section of a profile is a frozen dataclass below. Loading rejects an unknown key, a missing key or a
value of the wrong type with an error naming the key and the profile, so a typo in profiles.yaml (or in
a user's profile file) cannot fall back on a default hidden in code: there are none. A field declared
`= None` below is a key that may be left out because it does not apply (a task without shots, a method
that overrides nothing); every size is required.

    settings = profiles.load("cpu")
    settings.eval.alert.per_category          # typed access
    settings["eval"]["alert"]["per_category"]  # the same (sections are read-only mappings too)
    settings.name                              # the profile's name: settings travel alone

Users add profiles in a YAML file named by $SAFEALIGN_PROFILES (same layout; its `defaults` are ignored,
the book's defaults apply underneath).

Wing sections. A section that only one wing reads (paper B's harm types, mixing, filtering, the launcher)
is typed by a dataclass in that wing's own module, declared in the profile's `wings` mapping
(section name -> "module:Class", module relative to safealign). The section sits at the top level of the
profile like any other and is validated the same way; `settings.harm_types` reads it. Adding or changing a
wing section edits profiles.yaml and the wing's module, never this file, so stages that do not read it keep
their fingerprints.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

PROFILE_FILE = Path(__file__).with_name("profiles.yaml")
DEFAULT_PROFILE = "cpu"


class ProfileError(ValueError):
    pass


class Section(Mapping):
    """A frozen settings section: attributes, and read-only mapping access for `**section` and `[key]`."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self):
        return [f.name for f in dataclasses.fields(self)]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def to_dict(self) -> dict:
        return {k: _plain(getattr(self, k)) for k in self.keys()}


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def section(cls):
    return dataclasses.dataclass(frozen=True, eq=True)(cls)


Number = Union[int, float]
Size = Union[int, None]  # null = all rows


@section
class Splits(Section):
    policy_train: float
    judge_train: float
    test: float


@section
class Overview(Section):
    sample_generations: int
    max_new_tokens: int


@section
class GeneralPool(Section):
    lima: Size
    gsm8k: Size


@section
class Data(Section):
    source: str | None
    version: str
    general: GeneralPool


@section
class Benign(Section):
    source: str
    rows: int
    weight: float


@section
class SafetyJudgeSettings(Section):
    backend: str
    candidates: list[str]
    cv_folds: int
    threshold: Union[float, str]
    train_rows: Size
    test_rows: Size
    benign: Benign
    llama_guard_model: str
    batch_size: int
    engine: str                                # llama_guard runs on transformers | vllm (judges.llama_guard_vllm)
    engine_args: dict[str, int | float | str]  # vllm's LLM(...) arguments (gpu_memory_utilization, dtype, ...)


@section
class RefusalSettings(Section):
    backend: str
    C: Union[float, list[float]]
    embedding_weight: Union[float, list[float]]
    rows_per_model: Size


@section
class ToxicitySettings(Section):
    backend: str
    label: str
    rows: Size
    requests_per_second: float


@section
class Judges(Section):
    safety: SafetyJudgeSettings
    refusal: RefusalSettings
    toxicity: ToxicitySettings


@section
class CrossEncoderSettings(Section):
    max_length: int
    epochs: int
    learning_rate: float
    batch_size: int
    warmup_ratio: float
    weight_decay: float


@section
class HarmJudgeSettings(Section):
    sources: list[str]
    rows: Size
    holdout: float
    tfidf_C: float
    benchmark_rows: Size
    cross_encoder: CrossEncoderSettings


@section
class LectureRefusalSettings(Section):
    rows: Size
    C: float
    coconot_weight: float
    coconot_rows: Size


@section
class Judging(Section):
    n_boot: int
    toxicity_rows: Size
    audit_rows: int
    harm: HarmJudgeSettings
    refusal: LectureRefusalSettings


@section
class AlignData(Section):
    refusals_only: bool
    max_pairs: Size


@section
class Lora(Section):
    r: int
    alpha: int
    dropout: float
    target_modules: Union[str, list[str]]


@section
class Hyper(Section):
    learning_rate: float
    num_train_epochs: Number
    max_steps: int
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    lr_scheduler_type: str
    warmup_steps: int
    beta: float
    precompute_ref_log_probs: bool


@section
class MethodOverrides(Section):
    """A method's own constants over align.hyper; a key left out keeps the shared recipe's value."""
    beta: float | None = None
    label_smoothing: float | None = None
    per_device_train_batch_size: int | None = None
    desirable_weight: float | None = None
    undesirable_weight: float | None = None

    def given(self) -> dict:
        return {k: v for k, v in self.items() if v is not None}


@section
class Samples(Section):
    prompts: int
    max_new_tokens: int


@section
class Align(Section):
    data: AlignData
    max_length: int
    dtype: Literal["float32", "bfloat16"]   # the weights of policy and reference as loaded for training
    quantization: Optional[Literal["nf4"]]  # QLoRA: frozen weights stored in 4 bits (bitsandbytes), LoRA over them
    lora: Lora | None
    hyper: Hyper
    methods: dict[str, MethodOverrides]
    samples: Samples


@section
class Common(Section):
    batch_size: int
    n_boot: int


@section
class GenerationSettings(Section):
    """Who generates the evaluated answers: transformers (generate.hf, the cpu path) | vllm (generate.vllm_backend)."""
    backend: str
    engine_args: dict[str, int | float | str]  # vllm's LLM(...) arguments; transformers: nothing


@section
class AlertSettings(Section):
    per_category: Size
    max_new_tokens: int


@section
class AdversarialSettings(Section):
    per_attack: Size
    max_new_tokens: int


@section
class EvalToxicity(Section):
    per_subset: Size
    n: int
    max_new_tokens: int
    temperature: float
    batch_size: int


@section
class XSTestSettings(Section):
    per_type: Size
    max_new_tokens: int


@section
class Task(Section):
    """A capability task: n items (null = all); shots for few-shot tasks, max_new_tokens for generation tasks."""
    n: Size
    shots: int | None = None
    max_new_tokens: int | None = None


@section
class LmEval(Section):
    """lm-eval, the capability engine: `model` hf (the policy already in memory) | vllm (the saved policy)."""
    model: str
    batch_size: int
    engine_args: dict[str, int | float | str]  # vllm: capability.harness.VLLM_ENGINE_KEYS; hf: nothing


@section
class General(Section):
    max_length: int
    engine: str  # who scores the multiple-choice tasks: lm-eval | book (capability.benchmarks' own scorer)
    lm_eval: LmEval
    tasks: dict[str, Task]


@section
class Eval(Section):
    common: Common
    generation: GenerationSettings
    other_safety_judges: list[str]
    refusal_detector: str
    alert: AlertSettings
    adversarial: AdversarialSettings
    toxicity: EvalToxicity
    xstest: XSTestSettings
    general: General


@section
class Settings(Section):
    name: str
    seed: int
    offline: bool
    device: str
    policy_model: str
    splits: Splits
    overview: Overview
    data: Data
    judges: Judges
    judging: Judging
    align: Align
    eval: Eval
    wings: dict[str, str]  # wing sections: name -> "module:Class" (module relative to safealign)

    def __getattr__(self, name: str) -> Any:
        wing_sections = self.__dict__.get("_wing_sections", {})
        if name in wing_sections:
            return wing_sections[name]
        raise AttributeError(f"settings of profile {self.__dict__.get('name')!r} have no section {name!r}")

    def keys(self):
        return [k for k in super().keys()] + list(self.__dict__.get("_wing_sections", {}))


# ---------------------------------------------------------------------------------------------


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _build(tp, value: Any, key: str, where: str) -> Any:
    """`value` as type `tp`, or a ProfileError naming `key` and `where` (the profile and its file)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ProfileError(f"{where}: key {key!r} is {value!r}, expected one of {list(choices)}")
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _build(option, value, key, where)
            except ProfileError as err:
                errors.append(err)
        raise ProfileError(f"{where}: key {key!r} is {value!r}, expected {_type_name(tp)}")
    if origin is list:
        if not isinstance(value, list):
            raise ProfileError(f"{where}: key {key!r} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_build(item, v, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ProfileError(f"{where}: key {key!r} must be a mapping, got {value!r}")
        _, item = typing.get_args(tp)
        return types.MappingProxyType({k: _build(item, v, f"{key}.{k}", where) for k, v in value.items()})
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ProfileError(f"{where}: section {key!r} must be a mapping, got {value!r}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ProfileError(f"{where}: unknown key {key + '.' if key else ''}{unknown[0]} "
                               f"(section {key or 'top level'} takes {sorted(fields)})")
        missing = [n for n, f in fields.items() if n not in value and f.default is dataclasses.MISSING]
        if missing:
            raise ProfileError(f"{where}: missing key {key + '.' if key else ''}{missing[0]}")
        return tp(**{n: _build(hints[n], value[n], f"{key}.{n}" if key else n, where)
                     for n in fields if n in value})
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{where}: key {key!r} is {value!r}, expected a number")
        return float(value) if isinstance(value, int) else value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{where}: key {key!r} is {value!r}, expected an integer")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ProfileError(f"{where}: key {key!r} is {value!r}, expected {tp.__name__}")
        return value
    raise TypeError(f"profiles: no rule for type {tp!r} (key {key})")


@lru_cache(maxsize=None)
def _raw(user_file: str | None) -> dict:
    with open(PROFILE_FILE) as f:
        raw = yaml.safe_load(f)
    raw["_files"] = {name: PROFILE_FILE for name in raw if name != "defaults"}
    if user_file:
        path = Path(user_file)
        if not path.exists():
            raise ProfileError(f"$SAFEALIGN_PROFILES names {path}, which does not exist")
        with open(path) as f:
            extra = yaml.safe_load(f) or {}
        if not isinstance(extra, dict):
            raise ProfileError(f"{path}: a profile file maps profile names to their settings")
        for name, body in extra.items():
            if name == "defaults":
                continue
            raw[name] = body
            raw["_files"][name] = path
    return raw


def _all() -> dict:
    return _raw(os.environ.get("SAFEALIGN_PROFILES") or None)


def names() -> list[str]:
    return [name for name in _all() if name not in ("defaults", "_files")]


def merged(profile: str) -> dict[str, Any]:
    """The profile's settings as plain nested dicts (defaults deep-merged under it), before typing."""
    raw = _all()
    if profile not in names():
        raise ProfileError(
            f"unknown profile {profile!r} (parameter `profile`); choose one of {names()} "
            f"defined in {PROFILE_FILE}" + (f" or {os.environ['SAFEALIGN_PROFILES']}" if os.environ.get("SAFEALIGN_PROFILES") else "")
        )
    body = raw[profile] or {}
    if not isinstance(body, dict):
        raise ProfileError(f"{raw['_files'][profile]}: profile {profile!r} must be a mapping of sections")
    return {**_deep_merge(raw.get("defaults", {}), body), "name": profile}


def load(profile: str) -> Settings:
    """The typed, validated settings of `profile` (frozen; cached)."""
    return _load(profile, os.environ.get("SAFEALIGN_PROFILES") or None)


@lru_cache(maxsize=None)
def _load(profile: str, user_file: str | None) -> Settings:
    where = f"profile {profile!r} ({_all()['_files'].get(profile, PROFILE_FILE)})"
    return _typed(merged(profile), where)


def from_dict(values: dict, profile: str = "<dict>") -> Settings:
    """Typed settings from plain nested dicts (tests, tools): validated like a profile."""
    return _typed(values, f"profile {profile!r}")


def wing_class(spec: str, key: str, where: str) -> type:
    """The section dataclass named by a `wings` entry ("data.harmtype:HarmTypeSettings")."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ProfileError(f"{where}: key {key!r} is {spec!r}, expected 'module:Class'")
    try:
        module = importlib.import_module(f"safealign.{module_name}")
    except ModuleNotFoundError as err:
        raise ProfileError(f"{where}: key {key!r} names module safealign.{module_name}, which does not exist") from err
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and issubclass(cls, Section)):
        raise ProfileError(f"{where}: key {key!r}: safealign.{module_name} has no settings section {class_name!r}")
    return cls


def _typed(values: dict, where: str) -> Settings:
    values = dict(values)
    declared = _build(dict[str, str], values.get("wings", {}), "wings", where)
    wing_values = {}
    for name in declared:
        if name in {f.name for f in dataclasses.fields(Settings)}:
            raise ProfileError(f"{where}: key 'wings.{name}' names a core section")
        if name not in values:
            raise ProfileError(f"{where}: missing key {name} (a wing section declared in `wings`)")
        wing_values[name] = values.pop(name)
    settings = _build(Settings, {**values, "wings": dict(declared)}, "", where)
    sections = {name: _build(wing_class(spec, f"wings.{name}", where), wing_values[name], name, where)
                for name, spec in declared.items()}
    object.__setattr__(settings, "_wing_sections", types.MappingProxyType(sections))
    return settings


def override(settings: Settings, changes: dict[str, Any]) -> Settings:
    """A copy of `settings` with dotted keys changed ({"eval.alert.per_category": 1}), validated again."""
    values = settings.to_dict()
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = values
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ProfileError(f"override: {dotted!r} names no section of profile {settings.name!r}")
            node = node[part]
        if leaf not in node:
            raise ProfileError(f"override: unknown key {dotted!r} for profile {settings.name!r}")
        node[leaf] = value
    return from_dict(values, settings.name)
