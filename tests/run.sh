#!/usr/bin/env bash
# The whole test suite from a fresh checkout: installs what is missing, then lint, types and tests.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k visitor`).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)  # also runs the Sentinels (--sentinel)
# tests/test_nginx.py runs Debian's nginx in front of three nodes, with the configuration DEPLOY.md prints.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
# tests/test_grafana_dashboard.py runs every panel of docs/grafana-dashboard.json on Debian's prometheus.
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need_apt+=(prometheus)
# Browser tests drive Debian's Chromium through Playwright; no browser is ever downloaded.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
# Parallel test processes (pytest-xdist): the tests spend much of their time waiting on sockets, child
# processes and TTLs, so more processes than cores keep both cores busy. Each process has its own
# ports, SQLite files, PostgreSQL database and Redis key prefixes. HUB_TEST_WORKERS=0 runs in this one.
workers=${HUB_TEST_WORKERS:-3}
set +e
.venv/bin/python -m pytest -n "$workers" --dist worksteal "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
