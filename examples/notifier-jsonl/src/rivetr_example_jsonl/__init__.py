"""Example Rivetr notifier: events as JSON lines in a file."""
