#!/usr/bin/env bash
# One command from a fresh machine to the whole test suite: installs dependencies, Chromium and
# PostgreSQL, then runs pytest in parallel twice: on SQLite (the embedded database) and on a
# throw-away PostgreSQL cluster (the production database; tests/postgres.py starts and removes
# it). Real databases, real SMTP on loopback, real Chromium. Arguments go to both pytest runs.
# Fails if either run fails; TEST_DATABASES="sqlite" or "postgresql" runs one of them only.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser || exit 1

databases=${TEST_DATABASES:-sqlite postgresql}
status=0
summary=()
for database in $databases; do
  case "$database" in
    sqlite) label="SQLite"; run=(.venv/bin/pytest -n auto -p no:cacheprovider "$@") ;;
    postgresql) label="PostgreSQL"
      run=(.venv/bin/python -m tests.postgres -- .venv/bin/pytest -n auto -p no:cacheprovider "$@") ;;
    *) echo "TEST_DATABASES: unknown database '$database' (sqlite, postgresql)" >&2; exit 2 ;;
  esac
  echo
  echo "==================== test suite on $label ===================="
  started=$SECONDS
  "${run[@]}"
  code=$?
  summary+=("$label: $([ "$code" -eq 0 ] && echo passed || echo "FAILED (pytest exit $code)") in $((SECONDS - started)) s")
  # A failure (1-4) outranks "collected nothing" (5), which outranks success: .ci/run fails on both.
  if [ "$code" -ne 0 ] && { [ "$status" -eq 0 ] || [ "$status" -eq 5 ]; }; then
    status=$code
  fi
done
echo
echo "==================== databases ===================="
printf '%s\n' "${summary[@]}"
exit "$status"
