"""Rivetr notifier backed by apprise (see :mod:`rivetr_notify_apprise.notifier`)."""
