#!/usr/bin/env bash
# One command from a fresh machine to the whole test suite: installs dependencies and
# Chromium, then runs pytest in parallel (real SQLite, real SMTP on loopback, real Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
exec .venv/bin/pytest -n auto -p no:cacheprovider "$@"
