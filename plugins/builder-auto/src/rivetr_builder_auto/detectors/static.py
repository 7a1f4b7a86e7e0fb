"""Static sites: ``index.html`` at the root or in ``public/``, served as-is by busybox httpd (no build step; a
site that needs one has a ``package.json`` and is the Node detector's)."""

from __future__ import annotations

from ..plan import STATIC_IMAGE, Plan, Settings, arg_lines, cmd_line, copy_line, header, port_lines
from ..repo import Repo

NAME = "static"
LOOKS_FOR = "index.html at the root or in public/ (static site)"
DEFAULT_PORT = "8080"


def matches(repo: Repo) -> bool:
    return repo.is_file("index.html") or repo.is_file("public/index.html")


def plan(repo: Repo, settings: Settings) -> Plan:
    root = "." if repo.is_file("index.html") else "public"
    base = settings.base_image or STATIC_IMAGE
    start = settings.start_command or "httpd -f -v -p $PORT -h /www"
    port = settings.port or DEFAULT_PORT
    # The checkout (with its .git) is copied into a first stage and only the site reaches the served image:
    # the repository's history must not be downloadable from the site.
    lines = [header(NAME, "static", None), f"FROM {base} AS site", "WORKDIR /www"]
    lines += arg_lines(settings.build_arg_names, late=False)
    lines.append(copy_line([root], "/www"))
    lines += arg_lines(settings.build_arg_names, late=True)
    if settings.install_command:
        lines.append(f"RUN {settings.install_command}")
    if settings.build_command:
        lines.append(f"RUN {settings.build_command}")
    lines += [
        "RUN rm -rf /www/.git",
        f"FROM {base}",
        copy_line(["/www"], "/www", stage="site"),
        "WORKDIR /www",
    ]
    lines += [*port_lines(port), cmd_line(start)]
    return Plan(
        detector=NAME,
        language="static",
        framework=None,
        facts={"site_root": f"{root}/" if root != "." else "./", "server": "busybox httpd"},
        base_image=base,
        install_command=settings.install_command,
        build_command=settings.build_command,
        start_command=start,
        port=port,
        dockerfile="\n".join(lines) + "\n",
    )
