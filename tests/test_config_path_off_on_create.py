"""An app created with ``config_path`` "" or null has the repository's rivetr.toml off from the start (issue
24; docs/config-as-code.md). Found by tests/e2e/test_repo_config_e2e.py: the create stored "rivetr.toml" (the
column's server default: SQLAlchemy leaves a None value out of the INSERT) and the first deployment applied the
file anyway."""

from __future__ import annotations

from tests import test_deploy_pipeline as pipeline
from tests.test_deploy_pipeline import deploy_and_wait
from tests.test_deploy_repo_config import _log

papi = pipeline.papi
events = pipeline.events


async def test_config_path_off_on_create_ignores_the_file(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", "port = 8080\n")
    repo.commit("a file the app does not read")
    for name, off in (("blank", ""), ("null", None)):
        code, app = await papi.post(
            "/api/apps", json={"name": name, "git_url": repo.url, "port": 8000, "config_path": off}
        )
        assert code == 201 and app["config_path"] is None, app
        assert (await papi.get(f"/api/apps/{app['id']}"))[1]["config_path"] is None
        done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
        assert done["status"] == "running" and done["applied_config"] is None, done
        assert not any(line.startswith("rivetr.toml") for line in await _log(papi, done["id"]))
        assert (await papi.get(f"/api/apps/{app['id']}"))[1]["port"] == 8000
        assert fake_runtime.runs[-1].container_port == 8000
