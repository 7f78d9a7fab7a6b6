"""Settings for vulndesk, read from the environment.

With no environment at all, vulndesk runs in *embedded* mode: SQLite under ``VULNDESK_DATA_DIR``
(default ``./var``), a generated secret key kept in that directory, e-mail written to the console.
Production sets ``VULNDESK_ENV=production``, ``SECRET_KEY``, ``DATABASE_URL``, ``ALLOWED_HOSTS`` and
the e-mail variables; ``manage.py check --deploy`` is then clean.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


ENVIRONMENT = os.environ.get("VULNDESK_ENV", "embedded")  # embedded | production | test
PRODUCTION = ENVIRONMENT == "production"
DATA_DIR = Path(os.environ.get("VULNDESK_DATA_DIR", Path.cwd() / "var")).resolve()


def _embedded_secret_key() -> str:
    # Embedded mode keeps one random key per data directory, so sessions survive restarts
    # without anyone having to invent a secret; production must set SECRET_KEY itself.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or ("" if PRODUCTION else _embedded_secret_key())
if PRODUCTION and not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when VULNDESK_ENV=production")

DEBUG = _env_bool("DEBUG", False)
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")
# The absolute address of this installation, used in e-mails (tracking links) and security.txt.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "corsheaders",
    "axes",
    "django_htmx",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "vulndesk.core",
    "vulndesk.accounts",
    "vulndesk.audit",
    "vulndesk.organisations",
    "vulndesk.products",
    "vulndesk.reports",
    "vulndesk.attachments",
    "vulndesk.advisories",
    "vulndesk.osv",
    "vulndesk.exports",
    "vulndesk.cve",
    "vulndesk.public",
    "vulndesk.notifications",
    "vulndesk.prenotify",
    "vulndesk.pgp",
    "vulndesk.mailintake",
    "vulndesk.intake",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "vulndesk.core.limits.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "vulndesk.core.middleware.DomainErrorMiddleware",
    "vulndesk.core.middleware.PrivateNoStoreMiddleware",
    "vulndesk.core.logs.AccessLogMiddleware",
    # django-axes last, as its documentation requires.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "vulndesk.urls"
WSGI_APPLICATION = "vulndesk.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "organisations:home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "vulndesk.core.context_processors.csp_nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'vulndesk.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
# Tests start and stop servers whose worker threads end without closing their connections
# (mail intake, live server); with persistent connections each one stayed open on PostgreSQL
# until the end of the run and kept the test database from being dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0 if ENVIRONMENT == "test" else 600
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend with the writers of one process queued on a lock instead of SQLite's
    # sleep-and-retry (core/sqlite/base.py: why, and what it measured).
    DATABASES["default"]["ENGINE"] = "vulndesk.core.sqlite"
    # Django's default for SQLite test databases, said explicitly: pytest-django recognises the
    # stock engine by name only and would otherwise derive a file name from NAME per xdist worker.
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE: a write transaction takes the lock when it starts, so two writers queue on
        # the busy timeout instead of one failing with "database is locked" when it upgrades.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000; PRAGMA cache_size=-16000; "
            "PRAGMA mmap_size=268435456;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Passwords ------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 15}},
    {"NAME": "vulndesk.accounts.validators.ContextWordsValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation and time ----------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    # Embedded mode serves static files straight from the apps; an empty root keeps whitenoise quiet.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Request limits ---------------------------------------------------------------------------
# A report description may hold a long proof of concept, but not without bound.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
REPORT_TEXT_MAX_CHARS = 100_000

# --- Attachments (ASVS V5): stored encrypted outside any served folder ----------------------
ATTACHMENT_ROOT = Path(os.environ.get("ATTACHMENT_ROOT", DATA_DIR / "attachments"))
ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_MB", "25")) * 1024 * 1024
ATTACHMENT_REPORT_MAX_BYTES = 100 * 1024 * 1024
ATTACHMENT_MAX_FILES_PER_REQUEST = 10
ATTACHMENT_ARCHIVE_LIMITS = {"max_entries": 1000, "max_unpacked_bytes": 250 * 1024 * 1024, "max_ratio": 100}
# Uploads above this size are spooled to a temporary file, never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = ATTACHMENT_MAX_FILES_PER_REQUEST
# The whole request body is refused above this (before Django parses it): files plus form text.
REQUEST_MAX_BYTES = ATTACHMENT_MAX_BYTES * 2 + 4 * 1024 * 1024
REPORT_TITLE_MAX_CHARS = 200

# --- Security headers -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_AGE = 60 * 60 * 12
if PRODUCTION:
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-vd_session"
    CSRF_COOKIE_NAME = "__Host-vd_csrf"
    if _env_bool("BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Login lock-out (django-axes) -------------------------------------------------------------
from datetime import timedelta  # noqa: E402

AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
# Lock the (account, address) pair: an attacker cannot lock a victim out from elsewhere
# (ASVS V6.1.1); spraying many accounts from one address meets the per-IP login rate limit.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_CALLABLE = "vulndesk.accounts.views.lockout_view"
AXES_RESET_ON_SUCCESS = True
# The client IP is REMOTE_ADDR only (a reverse proxy sets it); X-Forwarded-For is client-written.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_VERBOSE = False

# --- Two-factor authentication ----------------------------------------------------------------
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "vulndesk")

# --- Rate limits: (requests, window in seconds), per client IP and per account ---------------
RATE_LIMITS = {
    "report_submit": (int(os.environ.get("RATE_LIMIT_REPORTS_PER_HOUR", "10")), 3600),
    "tracking_message": (30, 3600),
    "login": (30, 300),
    "auth_token": (30, 300),
    "api": (int(os.environ.get("RATE_LIMIT_API_PER_MINUTE", "600")), 60),
    "embargo_view": (30, 300),
    "invitation": (20, 300),  # invitation link opens and set-password posts per client address
    "osv": (int(os.environ.get("RATE_LIMIT_OSV_PER_MINUTE", "1200")), 60),
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "vulndesk.accounts.jwt.FamilyJWTAuthentication",
        "vulndesk.accounts.api_tokens.ApiTokenAuthentication",
        "vulndesk.accounts.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["vulndesk.core.ratelimit.ScopedRateThrottle"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "vulndesk.core.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "vulndesk API",
    "DESCRIPTION": "Reports, SLA clocks and triage for coordinated vulnerability disclosure.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the drf-spectacular-sidecar package: served by us, no CDN, CSP-clean.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "10"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=int(os.environ.get("JWT_REFRESH_HOURS", "12"))),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ.get("JWT_SIGNING_KEY") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
    # Tokens name who made them and for whom (ASVS V9.2.3): a token of another service using the
    # same key is refused.
    "AUDIENCE": "vulndesk-api",
    "ISSUER": SITE_URL,
}
# However often it is refreshed, a login ends this long after the password and code were given.
JWT_SESSION_MAX_HOURS = int(os.environ.get("JWT_SESSION_MAX_HOURS", "12"))

# CORS only for the public read APIs (OSV query, advisories: later issues); the staff API has
# none, so a browser on another origin can never call it with a user's credentials.
CORS_URLS_REGEX = r"^/api/osv/.*$"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False

# Official JSON schemas (OSV, CSAF, CVSS) laid out like shared/schemas: with it, every published
# document is validated before it goes out. CVE JSON 5 is always validated (cvelib ships it).
VULNDESK_SCHEMA_DIR = os.environ.get("VULNDESK_SCHEMA_DIR") or None

# --- Mail intake: vulndesk is the security@ mailbox (mailintake) --------------------------------
MAIL_INTAKE_HOST = os.environ.get("MAIL_INTAKE_HOST", "127.0.0.1")
MAIL_INTAKE_PORT = int(os.environ.get("MAIL_INTAKE_PORT", "0"))  # 0: a free port, printed at start
MAIL_INTAKE_MAX_BYTES = int(os.environ.get("MAIL_INTAKE_MAX_MB", "25")) * 1024 * 1024
MAIL_INTAKE_HOSTNAME = os.environ.get("MAIL_INTAKE_HOSTNAME", "")  # EHLO/banner name; "" = the host's FQDN
# The MTA in front of `vulndesk smtpd` (if any): counted per sender only, not per address.
MAIL_INTAKE_TRUSTED_RELAYS = _env_list("MAIL_INTAKE_TRUSTED_RELAYS")
MAIL_INTAKE_RATE_LIMITS = {
    "mail_sender": (int(os.environ.get("MAIL_INTAKE_PER_SENDER_PER_HOUR", "20")), 3600),  # over: 451
    "mail_ip": (int(os.environ.get("MAIL_INTAKE_PER_IP_PER_HOUR", "60")), 3600),  # over: 421 + close
}
# IMAP polling of mailboxes at the organisations' own providers: seconds a server may stay silent.
MAIL_INTAKE_IMAP_TIMEOUT = int(os.environ.get("MAIL_INTAKE_IMAP_TIMEOUT", "60"))
# An organisation's owner chooses the IMAP host, and the poller connects from this server: so it
# connects only to public addresses (each session resolves once, refuses loopback, private,
# link-local/cloud metadata, shared and reserved answers, and connects to the checked address).
# To poll your own internal mail server, list its networks (CIDRs, comma-separated, e.g.
# "10.0.5.0/24,fd00:5::/64"). Empty by default. Without TLS, loopback only, whatever is listed.
MAIL_INTAKE_IMAP_ALLOWED_NETWORKS = _env_list("MAIL_INTAKE_IMAP_ALLOWED_NETWORKS")

# --- OpenPGP for the mailbox (pgp): keys, decryption, encrypted replies -------------------------
# Per-organisation GNUPGHOMEs (a cache rebuilt from the database). Keep the path short: gpg-agent's
# socket path must fit in ~100 bytes.
PGP_HOME = os.environ.get("PGP_HOME", str(DATA_DIR / "gnupg"))
PGP_GPG_BINARY = os.environ.get("PGP_GPG_BINARY", "gpg")
PGP_PUBLIC_KEY_MAX_BYTES = 64 * 1024  # a reporter's key, stored minimal (no third-party signatures)
PGP_SECRET_KEY_MAX_BYTES = 256 * 1024
# gpg stops decompressing past this (a compressed "bomb" in an encrypted mail): twice the mail limit.
PGP_MAX_OUTPUT_BYTES = 2 * MAIL_INTAKE_MAX_BYTES

# --- Background tasks -----------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
if ENVIRONMENT == "test":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
# How often `vulndesk scheduler` runs the SLA sweep.
SLA_SWEEP_INTERVAL_SECONDS = int(os.environ.get("SLA_SWEEP_INTERVAL_SECONDS", "60"))

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 20
# Embedded mode has no mail server: mail goes to the console unless EMAIL_HOST is set.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "vulndesk <noreply@localhost>")

# --- Logging --------------------------------------------------------------------------------
# JSON lines on stderr, every record through the redacting filter (core/logs.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "vulndesk.core.logs.RedactingFilter"}},
    "formatters": {"json": {"()": "vulndesk.core.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "vulndesk.access": {"level": os.environ.get("ACCESS_LOG_LEVEL", "INFO")},
        "axes": {"level": "WARNING"},
        # python-gnupg logs key material and user IDs at DEBUG, and every expected refusal (a wrong
        # passphrase, an unknown key) at WARNING; vulndesk logs its own outcome of each instead.
        "gnupg": {"level": "ERROR"},
    },
}

