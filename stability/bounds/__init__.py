"""Published results of the theory reference as functions (temporary stub)."""

from stability.bounds.gradient import *  # noqa: F403
from stability.bounds.moments import *  # noqa: F403
from stability.bounds.momentum import *  # noqa: F403
