"""Container runtime for Docker Swarm: every RunSpec becomes a swarm service (single node for now)."""

__version__ = "0.1.0"
