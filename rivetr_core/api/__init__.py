"""Core's REST API blueprints. Every ``/api/*`` route requires the admin token (see :mod:`rivetr_core.auth`)."""
