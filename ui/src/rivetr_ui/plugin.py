"""Registers the dashboard blueprint (pages at ``/``, assets at ``/static/ui`` and ``/static/vendor``)."""

from rivetr_core import hookimpl
from rivetr_core.types import BlueprintRegistration


@hookimpl
def rivetr_blueprints() -> list[BlueprintRegistration]:
    from .views import bp  # importing the views attaches every page to the blueprint

    return [BlueprintRegistration(name="ui", blueprint=bp)]
