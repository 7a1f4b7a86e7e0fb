"""Constants and page helpers shared by the dashboard's browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct horse battery staple"


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def setup_admin(page: Any, url: str, token: str) -> None:
    """First-run setup through the form (``token``: the admin token, the server's proof); ends on the dashboard,
    logged in."""
    page.goto(url + "/")
    page.wait_for_url(url + "/setup")
    page.fill("#setup_token", token)
    page.fill("#username", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#password_confirm", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def login(page: Any, url: str, password: str = ADMIN_PASSWORD) -> None:
    """Log in through the form (ends on the dashboard)."""
    page.goto(url + "/login")
    page.fill("#username", ADMIN_USER)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
