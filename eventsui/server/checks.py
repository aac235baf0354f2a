"""System checks: `manage.py check` fails when a server patch would not apply.

eventsui/server patches the internals of libraries (handlers.py: Django's ASGI handler;
daphne_pings.py: daphne's websocket protocol, through autobahn and Twisted), and internals
change without notice. Each patch's docstring names the versions it was verified against;
pyproject.toml pins those ranges, and these checks fail (Error) when

- an installed version of Django, daphne, autobahn, Twisted, channels or asgiref is outside
  its range. The ranges are read from the installed eventsui distribution's requirements
  (`importlib.metadata`), which pip writes from pyproject.toml: one source; a checkout whose
  pyproject.toml pins other ranges than the installed metadata (edited, not reinstalled) fails
  too;
- what a patch replaces is not there (a method missing or with other parameters), or after
  `install()` the replaced methods are not ours.

Registered by eventsui.server.apps.ServerConfig.ready().
"""

from __future__ import annotations

import inspect
import tomllib
from importlib import metadata
from pathlib import Path

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.checks import CheckMessage, Error
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

DISTRIBUTION = "eventsui"
# What the patches depend on; each needs a tested range in pyproject.toml.
PATCHED = ("Django", "asgiref", "channels", "daphne", "autobahn", "Twisted")
REINSTALL = "Run `.venv/bin/python -m pip install -e .` (tests/run.sh does)."


def _ranges(requirements: list[str]) -> dict[str, SpecifierSet]:
    """{canonical name: specifier} of the unconditional requirements (no extras)."""
    out = {}
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            out[canonicalize_name(requirement.name)] = requirement.specifier
    return out


def tested_ranges() -> dict[str, SpecifierSet]:
    """The version ranges the installed eventsui distribution requires."""
    return _ranges(metadata.requires(DISTRIBUTION) or [])


def _pyproject_ranges(path: Path) -> dict[str, SpecifierSet] | None:
    if not path.is_file():  # installed from a wheel, not run from a checkout
        return None
    with path.open("rb") as file:
        return _ranges(tomllib.load(file).get("project", {}).get("dependencies", []))


def check_tested_versions(app_configs=None, **kwargs) -> list[CheckMessage]:
    try:
        ranges = tested_ranges()
    except metadata.PackageNotFoundError:
        return [
            Error(
                f"The {DISTRIBUTION} distribution is not installed, so the tested versions "
                "of what eventsui/server patches are unknown.",
                hint=REINSTALL,
                id="eventsui_server.E001",
            )
        ]
    errors: list[CheckMessage] = []
    declared = _pyproject_ranges(Path(settings.BASE_DIR) / "pyproject.toml")
    for name in PATCHED:
        key = canonicalize_name(name)
        tested = ranges.get(key)
        if tested is None or not str(tested):
            errors.append(
                Error(
                    f"pyproject.toml pins no tested range for {name}, which eventsui/server "
                    "patches.",
                    hint=f"Add {name}>=X.Y,<X.Z (the versions verified) to [project] "
                    f"dependencies. {REINSTALL}",
                    id="eventsui_server.E002",
                )
            )
            continue
        if declared is not None and declared.get(key) != tested:
            errors.append(
                Error(
                    f"pyproject.toml pins {name}{declared.get(key, '')} but the installed "
                    f"{DISTRIBUTION} metadata says {name}{tested}: it is out of date.",
                    hint=REINSTALL,
                    id="eventsui_server.E003",
                )
            )
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            errors.append(
                Error(
                    f"{name} is not installed; eventsui needs {name}{tested}.",
                    hint=REINSTALL,
                    id="eventsui_server.E004",
                )
            )
            continue
        if not tested.contains(installed, prereleases=True):
            errors.append(
                Error(
                    f"{name} {installed} is installed, but the patches in eventsui/server "
                    f"were verified against {name}{tested} only.",
                    hint=f"Install a tested version ({REINSTALL}), or verify the patches "
                    f"against {name} {installed} (their docstrings say what to read; run "
                    "tests/server) and widen the range in pyproject.toml.",
                    id="eventsui_server.E005",
                )
            )
    return errors


def _parameters(function) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)


def check_asgi_handler(app_configs=None, **kwargs) -> list[CheckMessage]:
    """SyncChainASGIHandler overrides what Django's ASGIHandler still has and calls."""
    from django.core.handlers.asgi import ASGIHandler

    from eventsui.server.handlers import SyncChainASGIHandler

    problems = []
    load_middleware = getattr(ASGIHandler, "load_middleware", None)
    if not callable(load_middleware) or "is_async" not in _parameters(load_middleware):
        problems.append("ASGIHandler has no load_middleware(self, is_async)")
    get_response_async = getattr(ASGIHandler, "get_response_async", None)
    if not (
        iscoroutinefunction(get_response_async)
        and _parameters(get_response_async) == ("self", "request")
    ):
        problems.append("ASGIHandler has no coroutine get_response_async(self, request)")
    get_response = getattr(ASGIHandler, "get_response", None)
    if not callable(get_response) or iscoroutinefunction(get_response):
        problems.append("ASGIHandler has no synchronous get_response(self, request)")
    if not problems:
        chain = getattr(SyncChainASGIHandler(), "_middleware_chain", None)
        if chain is None or iscoroutinefunction(chain):
            problems.append("SyncChainASGIHandler() did not build a synchronous middleware chain")
    return [
        Error(
            f"The ASGI handler patch (eventsui/server/handlers.py) does not apply: {problem}.",
            hint="Compare with the Django version named in SyncChainASGIHandler's docstring.",
            obj=SyncChainASGIHandler,
            id="eventsui_server.E010",
        )
        for problem in problems
    ]


def check_daphne_patch(app_configs=None, **kwargs) -> list[CheckMessage]:
    """daphne's WebSocketProtocol has what DaphnePingsPatch wraps, and install() applies it."""
    from eventsui.server.daphne_pings import DaphnePingsPatch

    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError as exc:
        problems = [f"daphne.ws_protocol.WebSocketProtocol cannot be imported ({exc})"]
    else:
        problems = DaphnePingsPatch.surface_errors(WebSocketProtocol)
        if not problems and not DaphnePingsPatch.install():
            problems.append(
                "after install(), WebSocketProtocol's "
                + ", ".join(DaphnePingsPatch.WRAPS)
                + " are not all DaphnePingsPatch's (something else replaced them)"
            )
    return [
        Error(
            f"The daphne patch (eventsui/server/daphne_pings.py) does not apply: {problem}.",
            hint="Compare with the daphne and autobahn versions named in DaphnePingsPatch's "
            "docstring.",
            obj=DaphnePingsPatch,
            id="eventsui_server.E020",
        )
        for problem in problems
    ]
