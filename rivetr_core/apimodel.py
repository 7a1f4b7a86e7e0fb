"""``ApiModel``: the base of every request and response model of the API.

Pydantic builds a model's validator and serializer when its class is created, by default. The API has well
over a hundred models and an idle control plane uses none of them, so they are built on first use instead
(``defer_build``): the first request to validate a body, or the first ``/openapi.json``, pays a few
milliseconds once, and the idle server keeps ~1.5 MB it would otherwise spend on code that may never run.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    model_config = ConfigDict(defer_build=True)
