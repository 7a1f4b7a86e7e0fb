"""``/registries``: container registry credentials (list, add, delete) for image apps' pulls.

Reads go through ``ctx().services.registries`` (built on first use: an idle dashboard never loads the feature);
adding and deleting are REST calls from the browser (``POST``/``DELETE /api/registries``), so the login check
and its error messages are exactly the API's. Passwords are never rendered (the API's JSON masks them).
"""

from __future__ import annotations

from typing import Any

from ..blueprint import bp, ctx, render

#: Registries a page lists (a handful in practice; the API and CLI page through more).
LISTED = 200


async def _registries() -> list[dict[str, Any]]:
    # The API's JSON (password masked) with the datetime the ``ago`` filter takes.
    rows: list[dict[str, Any]] = await ctx().services.registries.listing(LISTED)
    return rows


@bp.get("/registries")
async def registries() -> tuple[str, int]:
    return await render("registries.html", nav="registries", registries=await _registries())


@bp.get("/registries/partials/list")
async def registries_list() -> tuple[str, int]:
    return await render("partials/registries.html", registries=await _registries())
