#!/usr/bin/env bash
# Debian packages the full test suite needs. Idempotent; silent when already present.
set -euo pipefail
need=()
command -v make >/dev/null 2>&1 || need+=(make)
# PostgreSQL server binaries for the postgres-marked tests (.ci/start-postgres.sh runs them).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
# Headless Chromium for the browser-marked board test (Playwright drives /usr/bin/chromium).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# bubblewrap: the sandbox for agent-written code (execution/sandbox.py); code is refused without it.
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]} (run as root or install them)" >&2
    exit 2
  fi
fi
