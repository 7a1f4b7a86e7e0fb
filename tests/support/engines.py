"""Fixtures for the real container engines (owned by the runtime plugins' work, issue 3)."""
