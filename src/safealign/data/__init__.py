"""The data wing: loaders (data.loaders, re-exported here), D_Safety curation, prompt-level splits, the
harm-type labeller, and room for paper B's mixing. Submodules are imported by name
(`from safealign.data import curation`), so a stage fingerprints only the parts it uses."""

from .loaders import *  # noqa: F401,F403
from .loaders import _manifest, _normalise_pku_full  # noqa: F401  (used by curation and the tests)
