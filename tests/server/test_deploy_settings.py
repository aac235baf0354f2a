"""Deploy settings: `check --deploy` is clean once HTTPS is on, production refuses to start
without a SECRET_KEY, no key is predictable, redirects stay on the site, and the API schema
and its pages need a login."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.automations.test_schema import automation

ROOT = Path(__file__).resolve().parent.parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "eventsui.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_https_on():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="k" * 60 + "production-key-with-enough-variety-123456",
        ALLOWED_HOSTS="events.example.com",
        HTTPS="true",
        SECURE_HSTS_PRELOAD="true",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_deployed_server_without_secret_key_refuses_to_start():
    result = manage("check", ALLOWED_HOSTS="events.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_the_local_fallback_key_is_random_not_derived_from_the_checkout():
    assert str(settings.BASE_DIR) not in settings.SECRET_KEY
    assert "insecure" not in settings.SECRET_KEY
    assert len(settings.SECRET_KEY) >= 50


@pytest.mark.django_db
def test_the_enable_switch_redirects_only_to_this_site(viewer):
    client = Client()
    client.force_login(viewer)
    created = client.post("/api/automations/", automation(), content_type="application/json")
    pk = created.json()["id"]
    url = reverse("automations:toggle", args=[pk])
    evil = client.post(url, {"enabled": "false", "next": "https://evil.example/"})
    assert evil.status_code == 302 and not evil["Location"].startswith("https://evil")
    scheme_relative = client.post(url, {"enabled": "true", "next": "//evil.example/x"})
    assert "evil.example" not in scheme_relative["Location"]
    local = client.post(url, {"enabled": "false", "next": "/automations/?page=2"})
    assert local["Location"] == "/automations/?page=2"


@pytest.mark.django_db
def test_the_api_schema_and_its_pages_need_a_login(viewer):
    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    for page in ("/api/docs/", "/api/redoc/"):
        response = anonymous.get(page)
        assert response.status_code == 302 and "/login/" in response["Location"]
    client = Client()
    client.force_login(viewer)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
