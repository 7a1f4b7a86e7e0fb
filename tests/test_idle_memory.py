"""Idle-memory guards: what the control plane builds at import only when something first uses it."""

from __future__ import annotations

from pydantic import BaseModel

from rivetr_core.pagination import page_model


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
    import subprocess
    import sys

    code = (
        "import sys, rivetr_core.api.tasks\n"
        "loaded = [m for m in ('rivetr_core.services.tasks', 'rivetr_core.services.scheduled_deployments',"
        " 'rivetr_core.models.tasks') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_the_response_model_states_the_output_limit_the_table_keeps() -> None:
    from rivetr_core.models.tasks import OUTPUT_LIMIT
    from rivetr_core.services.task_responses import OUTPUT_KIB

    assert OUTPUT_KIB * 1024 == OUTPUT_LIMIT


def test_table_classes_build_their_validators_on_first_use() -> None:
    """~40 table classes with eager pydantic validators cost the idle server ~0.6 MB; rows come from SQLAlchemy,
    which never validates them. A first validation or dump still builds the validator and works."""
    import subprocess
    import sys

    code = (
        "from rivetr_core.models.apps import App\n"
        "print(App.__pydantic_complete__)\n"
        "app = App.model_validate({'name': 'web', 'git_url': 'https://example.test/r.git', 'project_id': 'p1'})\n"
        "print(App.__pydantic_complete__, app.name, app.model_dump()['name'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["False", "True web web"], result.stdout
