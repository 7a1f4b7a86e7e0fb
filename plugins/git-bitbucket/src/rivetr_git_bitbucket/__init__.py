"""Bitbucket git provider: webhooks, OAuth connect, repositories, PR previews."""

__version__ = "0.1.0"
