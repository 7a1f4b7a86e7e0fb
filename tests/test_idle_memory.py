"""Idle-memory guards: what the control plane builds at import only when something first uses it."""

from __future__ import annotations

import subprocess
import sys

from pydantic import BaseModel

from rivetr_core.pagination import page_model


def fresh_python(code: str) -> str:
    """The output of ``code`` run by a new interpreter: what it imports is what loading the modules imports."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


class _Item(BaseModel):
    name: str


def test_list_envelopes_are_built_on_first_use_not_at_import() -> None:
    """An envelope embeds its item's schema; ~30 of them built at import cost the idle server ~0.4 MB."""
    envelope = page_model(_Item, "ItemPageForTest")
    assert envelope.__pydantic_complete__ is False
    page = envelope.model_validate({"items": [{"name": "web"}], "next": None})
    assert envelope.__pydantic_complete__ is True
    assert page.model_dump() == {"items": [{"name": "web"}], "next": None}


def test_the_tasks_api_loads_its_services_with_the_first_request() -> None:
    """Registering /api/apps/{id}/tasks at start-up must not load the task services and their tables (~0.9 MB of
    the idle server); their response models live apart (rivetr_core.services.task_responses)."""
    code = (
        "import sys, rivetr_core.api.tasks\n"
        "loaded = [m for m in ('rivetr_core.services.tasks', 'rivetr_core.services.scheduled_deployments',"
        " 'rivetr_core.models.tasks') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    assert fresh_python(code).strip() == ""


def test_the_response_model_states_the_output_limit_the_table_keeps() -> None:
    from rivetr_core.models.tasks import OUTPUT_LIMIT
    from rivetr_core.services.task_responses import OUTPUT_KIB

    assert OUTPUT_KIB * 1024 == OUTPUT_LIMIT


def test_table_classes_build_their_validators_on_first_use() -> None:
    """~40 table classes with eager pydantic validators cost the idle server ~0.6 MB; rows come from SQLAlchemy,
    which never validates them. A first validation or dump still builds the validator and works."""
    code = (
        "from rivetr_core.models.apps import App\n"
        "print(App.__pydantic_complete__)\n"
        "app = App.model_validate({'name': 'web', 'git_url': 'https://example.test/r.git', 'project_id': 'p1'})\n"
        "print(App.__pydantic_complete__, app.name, app.model_dump()['name'])\n"
    )
    out = fresh_python(code)
    assert out.split("\n")[:2] == ["False", "True web web"], out


_H2_SERVER = """
import asyncio, socket, sys
from rivetr_core._hypercorn_import import load_hypercorn
load_hypercorn()
from hypercorn.asyncio import serve
from hypercorn.config import Config

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = ("%s %s" % (scope["http_version"], "h2.connection" in sys.modules)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})

sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(); sock.set_inheritable(True)
print(sock.getsockname()[1], "h2.connection" in sys.modules, flush=True)
config = Config(); config.bind = ["fd://%d" % sock.fileno()]
asyncio.run(serve(app, config))
"""


def test_the_api_server_loads_http2_only_when_a_client_speaks_it() -> None:
    """Hypercorn's HTTP/2 protocol (~1.1 MB of idle RSS) loads with the first h2 connection, not at start; an
    HTTP/1.1 request leaves it unloaded and an h2c (prior knowledge) request is still served over HTTP/2."""
    proc = subprocess.Popen([sys.executable, "-c", _H2_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port, loaded_at_start = proc.stdout.readline().split()
        assert loaded_at_start == "False"
        url = f"http://127.0.0.1:{port}/"
        plain = subprocess.run(["curl", "-sS", "--http1.1", url], capture_output=True, text=True, timeout=30)
        assert plain.stdout == "1.1 False", plain
        h2 = subprocess.run(
            ["curl", "-sS", "--http2-prior-knowledge", url], capture_output=True, text=True, timeout=30
        )
        assert h2.stdout == "2 True", h2
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_app_pages_table_loads_with_the_feature() -> None:
    """Maintenance and error pages (a table, its JSON column, the page rules) load when an app sets one, or with
    the feature's API: not with the core's tables and the route service."""
    code = (
        "import sys, rivetr_core.models, rivetr_core.routing, rivetr_core.app\n"
        "print('rivetr_core.models.app_pages' in sys.modules, 'rivetr_core.apppages' in sys.modules)\n"
        "import rivetr_core.apppages, rivetr_core.models.app_pages\n"
        "print(rivetr_core.models.app_pages.AppPages.__tablename__)\n"
    )
    out = fresh_python(code)
    assert out.split("\n")[:2] == ["False False", "app_pages"], out


def test_a_new_app_imports_no_api_module_until_a_request_needs_it() -> None:
    """Importing the ~45 API modules cost the idle server ~4.5 MB: create_app registers their routes from
    rivetr_core/api/manifest.py and a first request imports the module (tests/test_api_lazy.py checks the answers).
    A blueprint whose registration must run (a record_once: the manifest marks it "eager") would load at start-up:
    put what it installs app-wide in rivetr_core/api/app_hooks.py instead."""
    code = (
        "import sys, tempfile, pathlib\n"
        "from tests.support.server import make_config\n"
        "from rivetr_core.app import create_app, CORE_BLUEPRINTS\n"
        "from rivetr_core.api.manifest import MANIFEST\n"
        "create_app(make_config(pathlib.Path(tempfile.mkdtemp())))\n"
        "modules = [p.partition(':')[0] for p in CORE_BLUEPRINTS]\n"
        "print(sorted(m for m in modules if m in sys.modules), sorted(p for p, e in MANIFEST.items() if 'eager' in e))\n"
    )
    assert fresh_python(code).strip() == "[] []"
