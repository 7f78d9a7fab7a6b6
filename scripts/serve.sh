#!/usr/bin/env bash
# One command from a fresh machine to a running vulndesk on the embedded default:
# installs dependencies, applies migrations, creates the demo organisation (printing its
# one-time login) and starts the web server, the task worker and the SLA scheduler.
# Data lives in ./var (VULNDESK_DATA_DIR). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/vulndesk serve --demo "$@"
