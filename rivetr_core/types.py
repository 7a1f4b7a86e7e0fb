"""Old import path of :mod:`rivetr_core.contract`, kept so existing code keeps working.

New code (and every plugin) imports from ``rivetr_core.contract``. Add nothing here: new contract types go
into the contract module of their capability.
"""

from __future__ import annotations

from rivetr_core.contract import *  # noqa: F403
from rivetr_core.contract import __all__ as __all__
from rivetr_core.contract.plugin import S as S
