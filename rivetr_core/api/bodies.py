"""Request bodies quart-schema cannot validate: an optional one (``@optional_body`` in the document).

quart-schema's ``validate_request`` needs a body; ``POST /api/apps/{id}/deploy`` and
``POST /api/backups/{id}/restore`` also work with none at all, so they read it here, answering in the same
shapes as its validation does.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from quart import request

from rivetr_core.errors import ApiError

M = TypeVar("M", bound=BaseModel)


async def optional_json(model: type[M]) -> M:
    """The request's JSON body validated by ``model``; no body (or ``null``) is ``{}``. 400 for a body that is
    not JSON, 422 naming the first offending field otherwise."""
    raw = await request.get_data(as_text=True)
    try:
        body = (json.loads(raw) if raw.strip() else None) or {}
    except ValueError:
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(
            422,
            "request body must be a JSON object",
            details=[{"field": None, "message": "expected an object"}],
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ApiError(
            422,
            f"{field}: {message}",
            code="validation_error",
            details=[{"field": field, "message": message}],
        ) from None
