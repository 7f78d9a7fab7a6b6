"""settings.py turns ``DATABASE_URL`` into Django's DATABASES: our queued SQLite backend
(core/sqlite) for SQLite and only for SQLite, Django's PostgreSQL backend (psycopg 3) for
PostgreSQL with none of the SQLite-only options. Checked in fresh processes, one per URL, whatever
database this test run uses."""

import json
import os
import subprocess
import sys

import pytest

PRINT_DATABASE = ("import json; from django.conf import settings; "
                  "print(json.dumps(settings.DATABASES['default'], default=str))")


def database_settings(url: str, tmp_path) -> dict:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "vulndesk.settings", "VULNDESK_ENV": "embedded",
                   "VULNDESK_DATA_DIR": str(tmp_path), "DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-c", PRINT_DATABASE], env=environment, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_sqlite_gets_the_queued_sqlite_backend_with_its_pragmas(tmp_path):
    database = database_settings(f"sqlite:///{tmp_path / 'v.sqlite3'}", tmp_path)
    assert database["ENGINE"] == "vulndesk.core.sqlite"
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgresql_gets_djangos_backend_and_none_of_the_sqlite_options(tmp_path, scheme):
    database = database_settings(f"{scheme}://desk:secret@db.internal:5433/vulndesk", tmp_path)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["HOST"], database["PORT"], database["USER"]) == (
        "vulndesk", "db.internal", 5433, "desk")
    assert database["CONN_MAX_AGE"] == 600  # persistent connections outside the tests
    assert "transaction_mode" not in database.get("OPTIONS", {})
    assert "init_command" not in database.get("OPTIONS", {})


def test_psycopg_3_is_installed_for_postgresql():
    import psycopg

    assert int(psycopg.__version__.split(".")[0]) == 3
