"""GitLab git provider: webhooks, OAuth connect, repositories, MR previews."""

__version__ = "0.1.0"
