"""Profiles: the single place that sets every size (see profiles.yaml)."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROFILE_FILE = Path(__file__).with_name("profiles.yaml")
DEFAULT_PROFILE = "cpu"


class ProfileError(ValueError):
    pass


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@lru_cache(maxsize=None)
def _raw() -> dict:
    with open(PROFILE_FILE) as f:
        return yaml.safe_load(f)


def names() -> list[str]:
    return [name for name in _raw() if name != "defaults"]


def load(profile: str) -> dict[str, Any]:
    """The full, merged settings of `profile` (a fresh copy each call)."""
    raw = _raw()
    if profile not in names():
        raise ProfileError(
            f"unknown profile {profile!r} (parameter `profile`); choose one of {names()} "
            f"defined in {PROFILE_FILE}"
        )
    settings = _deep_merge(raw.get("defaults", {}), raw[profile] or {})
    settings["name"] = profile
    return settings


def section(profile: str, name: str) -> dict[str, Any]:
    settings = load(profile)
    if name not in settings:
        raise ProfileError(f"profile {profile!r} has no section {name!r} in {PROFILE_FILE}")
    return settings[name]
