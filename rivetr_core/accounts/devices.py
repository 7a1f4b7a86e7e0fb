"""A short readable name for the device of a session ("Firefox on Linux", "Safari on iPhone"), from its User-Agent.

Only what a person needs to recognise their own sessions in a list; not a full parser (no library for that): the
first matching rule wins, in an order that handles the tokens browsers copy from each other (every Chromium says
"Safari", Edge and Opera say "Chrome", iOS says "like Mac OS X").
"""

from __future__ import annotations

#: (token in the User-Agent, name), checked in order.
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)
#: Programs that are not browsers, by the first word of their User-Agent (lower case).
_PROGRAMS = {
    "rivetr-cli": "Rivetr CLI",
    "curl": "curl",
    "python-httpx": "Python (httpx)",
    "python-requests": "Python",
}


def device_name(user_agent: str | None) -> str:
    """E.g. ``"Firefox on Linux"``, ``"Chrome on Android"``, ``"Rivetr CLI"``, ``"unknown device"``."""
    agent = (user_agent or "").strip()
    if not agent:
        return "unknown device"
    program = _PROGRAMS.get(agent.split("/", 1)[0].split(" ", 1)[0].lower())
    if program:
        return program
    browser = next((name for token, name in _BROWSERS if token in agent), None)
    system = next((name for token, name in _SYSTEMS if token in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or agent.split(" ", 1)[0][:40]
