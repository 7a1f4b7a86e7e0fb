"""PostgreSQL specifics of the engine: pool settings and what every new asyncpg connection needs.

Imported only when ``[database] url`` names PostgreSQL, so the SQLite default never loads asyncpg.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def engine_options(*, pool_size: int, max_overflow: int, pool_timeout: float) -> dict[str, Any]:
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
        # A restarted or failed-over server leaves dead connections in the pool: test each on checkout (one
        # round trip) rather than fail a request per stale connection.
        "pool_pre_ping": True,
    }


def integer_binds_as_bigint(dialect: Any) -> None:
    """Cast every bound integer to BIGINT. SQLAlchemy's asyncpg dialect casts each bound value to its
    Python-side type (``$1::INTEGER``), and several models declare ``int`` where the column is BIGINT (memory
    sizes, network counters): a 3 GiB value failed in that cast. PostgreSQL assigns a BIGINT to an INTEGER
    column with a range check, so a real INTEGER column still refuses what does not fit. (Leaving integers
    uncast instead breaks multi-row INSERTs, whose VALUES list then types them as text.) Catalog queries that
    pass integers to INTEGER-typed functions (reflection) need a plain engine: ``rivetr db copy`` uses one."""
    from sqlalchemy import BigInteger, Integer

    dialect.colspecs = {**dialect.colspecs, Integer: dialect.colspecs[BigInteger]}


def _encode_timestamp(value: datetime) -> str:
    # The models store UTC in TIMESTAMP WITHOUT TIME ZONE, as on SQLite, and the code hands over aware UTC
    # values (utcnow()); asyncpg's own codec refuses aware values for that type, so strip the zone after
    # converting to UTC.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ")


def _decode_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _set_codecs(connection: Any) -> None:
    await connection.set_type_codec(
        "timestamp",
        schema="pg_catalog",
        encoder=_encode_timestamp,
        decoder=_decode_timestamp,
        format="text",
    )


def on_connect(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy ``connect`` event: runs on each new pooled asyncpg connection."""
    dbapi_connection.run_async(_set_codecs)
