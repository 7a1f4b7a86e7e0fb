"""Choose the container runtime from ``[runtime] runtime_type``.

* a name (``"docker"``, ``"podman"``, any runtime plugin's name) selects that registration; an unknown name is a
  :class:`~rivetr_core.plugins.PluginError` listing the installed ones. The runtime is returned even when its
  engine is down at this moment (the caller's calls then raise ``RuntimeUnavailable``), because an explicit
  choice must not silently change.
* ``"auto"`` tries the registrations by ascending ``auto_priority`` (Docker 10, Podman 20, then name order),
  building each and taking the first whose ``ping()`` answers within ``ping_timeout``. Runtimes not taken are
  closed. When none answers, :class:`~rivetr_core.contract.RuntimeUnavailable` lists each one tried and why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from .contract import ContainerRuntime, ContainerRuntimeRegistration, PluginContext, RuntimeUnavailable
from .plugins import PluginError

log = logging.getLogger("rivetr.runtime")

AUTO = "auto"


def _where(runtime: object) -> str:
    address = getattr(runtime, "base_url", None)
    return f" at {address}" if address else ""


async def _close_quietly(runtime: ContainerRuntime) -> None:
    try:
        await runtime.close()
    except Exception:  # a runtime we are discarding must not mask the selection result
        log.debug("closing unselected runtime %s failed", runtime, exc_info=True)


async def select_runtime(
    registrations: Mapping[str, ContainerRuntimeRegistration],
    ctx: PluginContext,
    runtime_type: str = AUTO,
    *,
    ping_timeout: float = 30.0,
) -> ContainerRuntime:
    """Build and return the runtime ``runtime_type`` names (see the module docstring for ``"auto"``).

    ``ping_timeout`` is generous because a runtime's first ping may start its engine's API service
    (podman)."""
    if runtime_type != AUTO:
        registration = registrations.get(runtime_type)
        if registration is None:
            known = ", ".join(sorted(registrations)) or "none installed"
            raise PluginError(f"unknown container runtime {runtime_type!r} (available: {known})")
        return registration.factory(ctx)

    if not registrations:
        raise RuntimeUnavailable("no container runtime plugin is installed (runtime_type = auto)")
    tried: list[str] = []
    for registration in sorted(registrations.values(), key=lambda r: (r.auto_priority, r.name)):
        try:
            runtime = registration.factory(ctx)
        except Exception as exc:
            tried.append(f"{registration.name}: could not be created ({exc})")
            continue
        try:
            answers = await asyncio.wait_for(runtime.ping(), ping_timeout)
        except TimeoutError:
            answers = False
            reason = f"no answer within {ping_timeout:.0f} s"
        except Exception as exc:
            answers = False
            reason = f"ping failed ({exc})"
        else:
            reason = "does not answer"
        if answers:
            log.info("container runtime: %s%s (auto)", registration.name, _where(runtime))
            return runtime
        tried.append(f"{registration.name}{_where(runtime)}: {reason}")
        await _close_quietly(runtime)
    raise RuntimeUnavailable(
        "no container engine answers (runtime_type = auto); tried: " + "; ".join(tried),
        details={"tried": tried},
    )
