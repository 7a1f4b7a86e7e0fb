"""``ApiModel``: the base of every request and response model of the API.

Pydantic builds a model's validator and serializer when its class is created, by default. The API has well
over a hundred models and an idle control plane uses none of them, so they are built on first use instead
(``defer_build``): the first request to validate a body, or the first ``/openapi.json``, pays a few
milliseconds once, and the idle server keeps ~1.5 MB it would otherwise spend on code that may never run.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    model_config = ConfigDict(defer_build=True)


def document_alternatives(
    schema: dict[str, Any], names: tuple[str, ...], *, exactly_one: bool = True
) -> None:
    """For a body taking one of several optional fields (its validator checks which): the document shows each
    as its non-null type and requires exactly one of them (``exactly_one=False``: at least one), so a client
    following the document is never refused. Call it from the model's ``json_schema_extra``."""
    for name in names:
        prop = schema["properties"][name]
        prop.pop("default", None)
        branches = prop.pop("anyOf", None) or []
        prop.update(next((b for b in branches if b != {"type": "null"}), {}))
    schema["oneOf" if exactly_one else "anyOf"] = [{"required": [name]} for name in names]
