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
