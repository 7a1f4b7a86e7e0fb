"""Registers the dashboard blueprint (pages at ``/``, assets at ``/static/ui`` and ``/static/vendor``) and the
``[plugins.ui]`` settings."""

from pydantic import BaseModel, ConfigDict, Field

from rivetr_core import hookimpl
from rivetr_core.contract import BlueprintRegistration, ConfigModelRegistration


class UiSettings(BaseModel):
    """``[plugins.ui]``."""

    model_config = ConfigDict(extra="forbid")

    node_modules: str | None = Field(
        None,
        description="Where the dashboard's front-end packages are installed (default: ui/node_modules; "
        "RIVETR_UI_NODE_MODULES wins).",
    )


@hookimpl
def rivetr_blueprints() -> list[BlueprintRegistration]:
    from .views import bp  # importing the views attaches every page to the blueprint

    return [BlueprintRegistration(name="ui", blueprint=bp)]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="ui", model=UiSettings)]
