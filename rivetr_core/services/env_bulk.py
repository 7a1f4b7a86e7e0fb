"""Many variables of an app at once (a pasted or imported ``.env``): ``POST /api/apps/{id}/env-vars/bulk``.

The import adds the keys that are new and changes those whose value, secret flag or scope differ, in one
transaction (all or nothing); keys the app has that the import leaves out stay as they are. A secret's stored
value is never compared with the imported one (that would answer whether a guess is right): importing a secret
key always counts as a change. A dry run answers
the same ``added``/``changed``/``unchanged`` lists without writing: the dashboard's preview. Values are
encrypted at rest like every variable (:class:`~rivetr_core.secrets.SecretBox`) and never answered: the lists
hold keys only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.db import utcnow
from rivetr_core.models.apps import App, EnvVar

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext


async def import_env(
    ctx: RivetrContext,
    app_id: str,
    pairs: Sequence[tuple[str, str]],
    *,
    is_secret: bool | None = None,
    scope: str | None = None,
    dry_run: bool = False,
    managed_ok: bool = False,
) -> dict[str, Any]:
    """Set ``pairs`` (validated keys, each once) on the app. ``is_secret``/``scope`` None: a new key is a plain
    runtime variable and an existing one keeps its flag and scope; given: every imported key gets them.
    ``NotFound`` for an unknown app. Applies at the next deployment, like every variable change. 409
    ``managed_by_file`` (a dry run too, nothing written) when a key is one the app's repository file sets,
    unless ``managed_ok`` (see :class:`~rivetr_core.services.apps.AppService`)."""
    await ctx.services.apps.refuse_managed_env(app_id, [key for key, _value in pairs], managed_ok)
    box = ctx.secrets
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    async with ctx.db.session() as session:
        if await session.get(App, app_id) is None:
            raise NotFound.of("app", app_id)
        rows = {r.key: r for r in (await session.exec(select(EnvVar).where(EnvVar.app_id == app_id))).all()}
        now = utcnow()
        for key, value in pairs:
            row = rows.get(key)
            if row is None:
                added.append(key)
                session.add(
                    EnvVar(
                        app_id=app_id,
                        key=key,
                        value_enc=box.encrypt(value),
                        is_secret=bool(is_secret),
                        scope=scope or "runtime",
                        created_at=now,
                        updated_at=now,
                    )
                )
                continue
            secret = row.is_secret if is_secret is None else is_secret
            where = row.scope if scope is None else scope
            # A secret's value is never compared: "unchanged" would tell a caller who may not reveal it whether a
            # guess was right. An imported secret is always written (and listed as changed).
            same_value = not (row.is_secret or secret) and box.decrypt(row.value_enc) == value
            if same_value and secret == row.is_secret and where == row.scope:
                unchanged.append(key)
                continue
            changed.append(key)
            row.value_enc, row.is_secret, row.scope, row.updated_at = box.encrypt(value), secret, where, now
            session.add(row)
        if dry_run:
            await session.rollback()
        else:
            try:
                await session.commit()
            except IntegrityError:  # another request added one of the new keys meanwhile
                raise Conflict(
                    "another change of the app's variables happened at the same time; import again"
                ) from None
    return {"dry_run": dry_run, "added": added, "changed": changed, "unchanged": unchanged}
