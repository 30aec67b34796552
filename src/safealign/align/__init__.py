"""The alignment wing: paper A's methods table, the preference pairs, the table of trainer kinds, a run."""

from .methods import *  # noqa: F401,F403
from .pairs import *  # noqa: F401,F403
from .pairs import _text  # noqa: F401
from .trainers import *  # noqa: F401,F403
from .run import *  # noqa: F401,F403
