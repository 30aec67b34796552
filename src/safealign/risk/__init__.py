"""Risk entities (paper B §3.3): normalised whole-word matching and the versioned, audited store."""

from safealign.risk.matcher import EntityMatcher, Match, normalise
from safealign.risk.store import RiskStore, RiskStoreError, StoreLocked, read_entity_file

__all__ = ["EntityMatcher", "Match", "normalise", "RiskStore", "RiskStoreError", "StoreLocked", "read_entity_file"]
