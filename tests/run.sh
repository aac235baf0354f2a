#!/usr/bin/env sh
# Installs everything the test suite needs into .venv and runs the whole suite.
# The browser tests run in their own pytest process (Playwright's sync API runs an event loop
# in the test thread, which breaks pytest-asyncio tests that come after it).
#
# The database is DATABASE_URL's (SQLite when unset). Tests marked `postgresql` check code
# that only runs on PostgreSQL (COPY ingestion, the planner's estimated totals): on another
# database they would pass without running it, so they fail there, and this script deselects
# them (-m "not postgresql") and says so. .ci/run runs everything on PostgreSQL.
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
case "${DATABASE_URL:-}" in
  postgres://* | postgresql://* | pgsql://*)
    .venv/bin/python -m pytest --ignore=tests/browser "$@" || status=$?
    ;;
  *)
    echo 'tests/run.sh: the database is not PostgreSQL: deselecting the tests marked postgresql (-m "not postgresql"); .ci/run runs them.'
    .venv/bin/python -m pytest --ignore=tests/browser -m "not postgresql" "$@" || status=$?
    ;;
esac
if [ -d tests/browser ]; then
  DJANGO_ALLOW_ASYNC_UNSAFE=true .venv/bin/python -m pytest tests/browser "$@" || status=$?
fi
exit $status
