"""Test helpers for Rivetr and its plugins: a fake container runtime and the runtime contract suite.

Nothing in this package is imported by the server, and importing it does not import pytest (only the pytest
plugin module :mod:`rivetr_core.testing.contract` does).

``FakeRuntime`` — unit tests of logic that drives a runtime
-----------------------------------------------------------
:class:`~rivetr_core.testing.fake_runtime.FakeRuntime` implements the whole
:class:`~rivetr_core.contract.ContainerRuntime` protocol in memory. Its "containers" are real HTTP servers on
loopback (answering every request with the image's ``www/index.html``), so health checks, the proxy and HTTP
clients work against them unchanged::

    from rivetr_core.testing import FakeRuntime

    runtime = FakeRuntime()
    runtime.failures["run"] = RuntimeUnavailable("engine gone")  # inject a failure
    runtime.delays["ping"] = 60                                    # an engine that hangs
    ...
    assert runtime.live() == [container_id]                        # ids of running containers
    runtime.crash(container_id)                                    # the app process dies (exit 137)
    runtime.shutdown()                                             # at teardown: stop the servers

A build writes nothing to disk and runs no Dockerfile; files in the build context steer it (``FAIL_BUILD``,
``SLOW_BUILD``, ``UNHEALTHY``). See the class docstring for every knob and record. It is for unit tests of
logic; a runtime plugin's own behaviour is tested on its real engine with the contract suite below.

The runtime contract suite — testing a runtime plugin
-----------------------------------------------------
:class:`~rivetr_core.testing.contract.RuntimeContract` holds the behaviour core relies on from every
``ContainerRuntime`` (builds streaming their log, error types, ports, labels, limits, logs, exec, stats,
stop/remove semantics, label-scoped pruning). A runtime package runs it against its own implementation by
enabling the pytest plugin in its root ``conftest.py`` (opt-in: an installed Rivetr adds nothing to other
pytest runs)::

    pytest_plugins = ["rivetr_core.testing.contract"]

and, in a test module, providing a runtime factory and a local base image, then subclassing the suite::

    import pytest
    from rivetr_core.testing.contract import RuntimeContract
    from my_runtime import MyRuntime

    @pytest.fixture(scope="session")
    def rivetr_runtime_factory():
        return lambda: MyRuntime("unix:///run/my-engine.sock")

    @pytest.fixture(scope="session")
    def rivetr_base_image():
        return "localhost/my-tests/busybox:latest"  # busybox, present on the engine (nothing is pulled)

    class TestMyRuntimeContract(RuntimeContract):
        pass

Details (every fixture, the hooks for engine-specific checks, running it against :class:`FakeRuntime`) are in
the docstring of :mod:`rivetr_core.testing.contract` and in ``docs/testing-plugins.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake_runtime import FakeExecSession, FakeRuntime

__all__ = ["FakeExecSession", "FakeRuntime"]


def __getattr__(name: str) -> Any:
    # Lazy: ``import rivetr_core.testing`` stays free until a helper is used.
    if name in __all__:
        from . import fake_runtime

        return getattr(fake_runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
