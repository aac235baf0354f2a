#!/usr/bin/env sh
# Installs everything the test suite needs into .venv and runs the whole suite.
# The browser tests run in their own pytest process (Playwright's sync API runs an event loop
# in the test thread, which breaks pytest-asyncio tests that come after it).
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "Installing Debian's chromium for the browser tests..."
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/python manage.py check --fail-level WARNING
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null
status=0
.venv/bin/python -m pytest --ignore=tests/browser "$@" || status=$?
if [ -d tests/browser ]; then
  DJANGO_ALLOW_ASYNC_UNSAFE=true .venv/bin/python -m pytest tests/browser "$@" || status=$?
fi
exit $status
