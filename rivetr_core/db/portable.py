"""SQLite's SQL functions that PostgreSQL spells differently, compiled per dialect.

Each class registers under SQLite's name, so ``func.json_group_array(...)`` anywhere in the code builds one of
these and compiles to the dialect's own function: queries stay written once. Registered when
:mod:`rivetr_core.db.engine` is imported, before any query is built. The results are JSON text on both (asyncpg
hands ``json`` values over undecoded).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction


class json_array(GenericFunction[Any]):
    """``json_array(a, b, ...)``: a JSON array of the arguments (PostgreSQL: ``json_build_array``)."""

    inherit_cache = True
    name = "json_array"


class json_group_array(GenericFunction[Any]):
    """``json_group_array(x)``: an aggregate, the JSON array of ``x`` over the group (PostgreSQL: ``json_agg``,
    which gives NULL rather than ``[]`` over no rows: callers treat both as empty)."""

    inherit_cache = True
    name = "json_group_array"


@compiles(json_array, "postgresql")
def _json_array_pg(element: json_array, compiler: Any, **kw: Any) -> str:
    return f"json_build_array({compiler.process(element.clauses, **kw)})"


@compiles(json_group_array, "postgresql")
def _json_group_array_pg(element: json_group_array, compiler: Any, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"
