"""The Rivetr dashboard: a Quart blueprint of server-rendered pages (Jinja2 + htmx, small vanilla JS).

* :mod:`.plugin` — the ``rivetr_blueprints`` hook (entry point ``ui``).
* :mod:`.blueprint` — the ``ui`` blueprint: login guard, CSRF check, security headers, template helpers.
* :mod:`.vendor` — front-end libraries served from ``ui/node_modules`` through an allow-list.
* :mod:`.views` — one module per page family; they read through the core's services and database models and
  change state only through the core's services or the REST API (called from the browser with the session
  cookie and ``X-CSRF-Token``), never with business logic of their own.
"""

__version__ = "0.1.0"
