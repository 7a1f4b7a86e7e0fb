"""Container registry credentials (``registries``): used for pulls of images on their server (pre-built app images)
and, later, pushes. The password is stored only as :class:`~rivetr_core.secrets.SecretBox` ciphertext. Loaded with
the feature (registries API, an image app's deploy), never at start-up.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow


class Registry(SQLModel, table=True):
    __tablename__ = "registries"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=63, unique=True)
    #: The registry host (and port) images name: ``registry.example.com``, ``127.0.0.1:5443``; ``docker.io``.
    server: str = Field(max_length=253, unique=True)
    username: str = Field(max_length=255)
    password_enc: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
