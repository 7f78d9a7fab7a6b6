"""Settings for the test suite: the real settings in test mode, with a fast password hasher.

Tests still use a real database (SQLite per xdist worker, or PostgreSQL per worker when
``DATABASE_URL`` names one: scripts/test.sh runs both, tests/postgres.py starts the cluster), a
real SMTP server on loopback and real Chromium; only the slow, security-irrelevant parts are
swapped here.
"""

import os
import tempfile

os.environ.setdefault("VULNDESK_ENV", "test")
os.environ.setdefault("VULNDESK_DATA_DIR", tempfile.mkdtemp(prefix="vulndesk-test-"))

from vulndesk.settings import *  # noqa: E402,F403

# Argon2 at production cost makes every user fixture take ~100 ms; the hasher itself is tested
# in tests/accounts against the real settings list.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# The xdist workers share the data directory but each has its own database, where organisation 1
# is a different organisation: keyrings (kept per organisation id) get a root per worker.
PGP_HOME = os.path.join(PGP_HOME, os.environ.get("PYTEST_XDIST_WORKER", "main"))  # noqa: F405

# The test dovecot listens on loopback, which the IMAP poller refuses unless allowed (as an
# operator would allow an internal mail server); the tests of that refusal empty this list.
MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
