"""`manage.py check` fails when a patch in eventsui/server would not apply."""

from __future__ import annotations

from importlib import metadata

import pytest
from django.core.checks import run_checks
from django.core.checks.registry import registry
from django.core.handlers.base import BaseHandler
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from packaging.utils import canonicalize_name

from eventsui.server import checks
from eventsui.server.daphne_pings import DaphnePingsPatch
from eventsui.server.handlers import SyncChainASGIHandler

OURS = (checks.check_tested_versions, checks.check_asgi_handler, checks.check_daphne_patch)


def messages(check):
    return [str(message) for message in check()]


def test_the_checks_are_registered_and_pass_as_installed():
    assert set(OURS) <= registry.registered_checks
    assert [m for m in run_checks() if m.is_serious()] == []
    call_command("check", fail_level="WARNING")


def test_every_patched_library_has_its_tested_range_from_the_installed_metadata():
    ranges = checks.tested_ranges()
    assert str(ranges["daphne"]) == "<4.3,>=4.2"
    for name in checks.PATCHED:
        assert str(ranges[canonicalize_name(name)])


@pytest.mark.parametrize("name", checks.PATCHED)
@pytest.mark.parametrize("version", ["0.1", "999.0"])
def test_a_version_outside_the_tested_range_fails_the_check(monkeypatch, name, version):
    real = metadata.version
    monkeypatch.setattr(checks.metadata, "version", lambda n: version if n == name else real(n))
    (message,) = messages(checks.check_tested_versions)
    tested = checks.tested_ranges()[canonicalize_name(name)]
    assert f"{name} {version} is installed" in message
    assert f"verified against {name}{tested} only" in message
    with pytest.raises(SystemCheckError, match=f"{name} {version} is installed"):
        call_command("check")


def test_a_patched_library_without_a_pinned_range_fails_the_check(monkeypatch):
    real = metadata.requires
    monkeypatch.setattr(
        checks.metadata,
        "requires",
        lambda dist: [r for r in real(dist) if not r.lower().startswith("autobahn")],
    )
    assert any(
        "pins no tested range for autobahn" in m for m in messages(checks.check_tested_versions)
    )


def test_metadata_older_than_pyproject_fails_the_check(monkeypatch):
    real = metadata.requires
    monkeypatch.setattr(
        checks.metadata,
        "requires",
        lambda dist: ["daphne<5,>=4.1" if r.startswith("daphne") else r for r in real(dist)],
    )
    (message,) = messages(checks.check_tested_versions)
    assert "pyproject.toml pins daphne<4.3,>=4.2" in message
    assert "metadata says daphne<5,>=4.1: it is out of date" in message


class DaphneWithoutOnPing:
    """A daphne WebSocketProtocol of a version that renamed onPing and changed onMessage."""

    muted = False
    STATE_OPEN = 3

    def handle_reply(self, message): ...

    def onMessage(self, payload): ...  # noqa: N802 - daphne's name

    def sendPong(self, payload=None): ...  # noqa: N802 - autobahn's name


def test_a_daphne_without_a_method_the_patch_wraps_fails_the_check(monkeypatch):
    import daphne.ws_protocol

    # As in a fresh `manage.py check` process: nothing installed yet.
    monkeypatch.setattr(DaphnePingsPatch, "originals", {})
    monkeypatch.setattr(daphne.ws_protocol, "WebSocketProtocol", DaphneWithoutOnPing)
    found = messages(checks.check_daphne_patch)
    assert any("DaphneWithoutOnPing has no method onPing()" in m for m in found)
    assert any("DaphneWithoutOnPing.onMessage('self', 'payload')" in m for m in found)
    assert all("daphne_pings.py) does not apply" in m for m in found)
    assert DaphnePingsPatch.originals == {}  # nothing was installed on it


def test_wrapped_methods_replaced_after_install_fail_the_check(monkeypatch):
    from daphne.ws_protocol import WebSocketProtocol

    assert DaphnePingsPatch.install()
    assert messages(checks.check_daphne_patch) == []
    monkeypatch.setattr(WebSocketProtocol, "onPing", lambda self, payload: None)
    (message,) = messages(checks.check_daphne_patch)
    assert "are not all DaphnePingsPatch's" in message


def test_an_asgi_handler_without_get_response_async_fails_the_check(monkeypatch):
    monkeypatch.delattr(BaseHandler, "get_response_async")
    (message,) = messages(checks.check_asgi_handler)
    assert "handlers.py) does not apply" in message
    assert "no coroutine get_response_async(self, request)" in message


def test_a_load_middleware_without_is_async_fails_the_check(monkeypatch):
    monkeypatch.setattr(BaseHandler, "load_middleware", lambda self: None)
    (message,) = messages(checks.check_asgi_handler)
    assert "no load_middleware(self, is_async)" in message


def test_an_async_middleware_chain_fails_the_check(monkeypatch):
    monkeypatch.setattr(
        SyncChainASGIHandler,
        "load_middleware",
        lambda self, is_async=False: BaseHandler.load_middleware(self, is_async=True),
    )
    (message,) = messages(checks.check_asgi_handler)
    assert "did not build a synchronous middleware chain" in message
