"""Example Rivetr templates: ``cache-lru``, Redis configured as an LRU cache, in the service catalogue."""
