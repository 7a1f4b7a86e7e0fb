"""An app's maintenance switch and its own error pages (issue 22): a table of its own, loaded with the feature
(:mod:`rivetr_core.apppages`, the route table service when some app has a row) and by the migrations'
environment, not by an idle server whose apps set none."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import utcnow


class AppPages(SQLModel, table=True):
    """An app's maintenance switch and its own pages for the proxy's 502/503/504 answers (issue 22); pushed to
    the proxy with every route of the app (:mod:`rivetr_core.apppages`). No row: no maintenance, no pages."""

    __tablename__ = "app_pages"

    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    )
    maintenance: bool = False
    maintenance_message: str | None = Field(default=None, max_length=500)
    #: ``{"502"|"503"|"504"|"maintenance": "<html>"}``: only the pages set.
    error_pages: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
