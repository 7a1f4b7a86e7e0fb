"""The peer of ``bench/startup.py``: the smallest control plane our fixed library stack allows.

One Quart route served by Hypercorn on uvloop, pydantic-settings for config, quart-schema, one SQLModel table
read through aiosqlite, and the docker SDK listing containers (as Rivetr's start-up recovery does). No Rivetr
code at all: the idle RSS of this process is the floor any control plane on these libraries starts from, so
Rivetr's number is reported against it.

    .venv/bin/python bench/stack_floor.py <port> <sqlite path> <docker base url>
"""

from __future__ import annotations

import sys

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config
from pydantic_settings import BaseSettings
from quart import Quart
from quart_schema import QuartSchema
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession


class Settings(BaseSettings):
    port: int
    database: str
    docker_url: str


class Item(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str


def main() -> None:
    settings = Settings(port=int(sys.argv[1]), database=sys.argv[2], docker_url=sys.argv[3])
    app = Quart(__name__)
    QuartSchema(app)
    engine = create_async_engine(f"sqlite+aiosqlite:///{settings.database}")

    @app.get("/health")
    async def health() -> dict[str, int]:
        async with AsyncSession(engine) as session:
            return {"items": len((await session.exec(select(Item))).all())}

    async def run() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        try:
            import docker

            docker.APIClient(base_url=settings.docker_url, version="auto").containers(all=True)
        except Exception as exc:  # no engine here: the floor is then measured without that call
            print(f"docker: {exc}", file=sys.stderr)
        config = Config()
        config.bind = [f"127.0.0.1:{settings.port}"]
        config.accesslog = None
        await serve(app, config)

    uvloop.run(run())


if __name__ == "__main__":
    main()
