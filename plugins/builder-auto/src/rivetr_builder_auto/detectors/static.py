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
    # One stage, metadata first so a changed page re-runs only the copy. The repository's history is never
    # served: the builder leaves .git out of the build context (BuildSpec.exclude). With secret build variables
    # the copy and commands run in a stage of their own, and the image only copies the site from it.
    meta = [*port_lines(port), cmd_line(start)]
    secret = bool(settings.secret_arg_names)
    lines = [header(NAME, "static", None), f"FROM {base}" + (" AS site" if secret else ""), "WORKDIR /www"]
    if not secret:
        lines += meta
    lines += arg_lines(settings.build_arg_names, late=False)
    lines.append(copy_line([root], "/www"))
    lines += arg_lines(settings.build_arg_names, late=True)
    if settings.install_command:
        lines.append(f"RUN {settings.install_command}")
    if settings.build_command:
        lines.append(f"RUN {settings.build_command}")
    if secret:
        lines += [f"FROM {base}", "WORKDIR /www", *meta, copy_line(["/www"], "/www", stage="site")]
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
