"""Example Rivetr health check: ready once a file exists in the container."""
