"""The report wing: tables and figures, paper A's published numbers, the claims checked against them."""

from .tables import *  # noqa: F401,F403
from .tables import OVERALL_ASR, OVERALL_S  # noqa: F401
