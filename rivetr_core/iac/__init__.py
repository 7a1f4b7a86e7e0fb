"""Configuration as code (issue 24): one declarative model of a project and its apps, read from TOML or JSON,
written back by an export, and applied through core's services.

* :mod:`.model` — the models: :class:`~.model.AppFile` (an app's ``rivetr.toml``) and
  :class:`~.model.ProjectFile` (``project.toml``), composed from the API's own request models.
* :mod:`.files` — TOML/JSON in and out; errors name the key, line and column.
* :mod:`.state` — the server's current state in the file's terms (what export writes, what apply compares).
* :mod:`.apply` — the plan (create / update field: old -> new / unchanged / not in file) and its execution.

Everything here loads only when a request needs it (the API module imports it inside its handlers): an idle
control plane never pays for it. The deployment pipeline can reuse :class:`~.model.AppFile` and
:func:`~.files.load` to apply a repository's ``rivetr.toml`` (a later part of issue 24).
"""
