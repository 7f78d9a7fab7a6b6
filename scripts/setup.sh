#!/usr/bin/env bash
# Set up vulndesk on a fresh machine with Python 3.11: installs uv, then the locked
# dependencies into .venv (uv.lock) and gnupg (OpenPGP mail). With --browser it also installs
# Debian's Chromium, dovecot-imapd, Node.js and PostgreSQL for the tests (needs root;
# Playwright's own browser download is never used); --postgres installs PostgreSQL alone.
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

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
APT_UPDATED=""
apt_install() {  # apt_install <package>...: Debian packages, one apt-get update per run
  [ -n "$APT_UPDATED" ] || { $SUDO apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
if ! command -v gpg >/dev/null 2>&1; then
  # OpenPGP for the mail intake (decrypt, verify, encrypt replies): python-gnupg drives gpg.
  echo "==> installing gnupg for OpenPGP mail"
  apt_install gnupg
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/sbin/dovecot ]; then
  # The IMAP polling tests run against a real dovecot on loopback (started by the tests).
  echo "==> installing dovecot-imapd for the IMAP tests"
  apt_install dovecot-imapd
fi
if [ "${1:-}" = "--browser" ] && ! command -v npm >/dev/null 2>&1; then
  # The CSAF test runs the BSI validator (npm package) with Node.js.
  echo "==> installing Node.js and npm for the CSAF validator test"
  apt_install nodejs npm
fi
if { [ "${1:-}" = "--browser" ] || [ "${1:-}" = "--postgres" ]; } \
    && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  # The suite runs on PostgreSQL too (scripts/test.sh): tests/postgres.py starts a throw-away
  # cluster with the server binaries; run as root, it runs them as the package's postgres user.
  echo "==> installing Debian's postgresql for the PostgreSQL test run"
  apt_install postgresql
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "==> installing Debian's chromium for the browser tests"
  apt_install chromium fonts-liberation
fi
