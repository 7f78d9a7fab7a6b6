#!/usr/bin/env bash
# Set up vulndesk on a fresh machine with Python 3.11: installs uv, then the locked
# dependencies into .venv (uv.lock). With --browser it also installs Debian's Chromium for the
# browser tests (needs root; Playwright's own browser download is never used).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "vulndesk needs Python 3.11 (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if ! "$PYTHON" -m uv --version >/dev/null 2>&1; then
  echo "==> installing uv"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
export UV_PYTHON_DOWNLOADS=never
echo "==> installing locked dependencies into .venv"
"$PYTHON" -m uv sync --locked --quiet --python "$PYTHON"

if [ "${1:-}" = "--browser" ] && ! command -v npm >/dev/null 2>&1; then
  # The CSAF test runs the BSI validator (npm package) with Node.js.
  echo "==> installing Node.js and npm for the CSAF validator test"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-liberation >/dev/null
fi
