"""Logs never carry report text, e-mail addresses, passwords, one-time codes or tokens (ASVS
V16.2.5, V16.2.1/V16.2.4 for the format, V16.4.1 for injection).

The canary test runs a whole report lifecycle through the Django test client with every log
record of every logger going through the handler settings.LOGGING defines (its RedactingFilter
and JsonFormatter, at DEBUG), then looks for each secret in the captured lines. The unit tests
below pin each pattern of ``vulndesk.core.logs.redact``."""

import json
import logging
import re

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.module_loading import import_string

from tests.factories.core import (
    PASSWORD,
    make_member,
    make_organisation,
    make_product,
    totp_code,
    totp_device_for,
)
from vulndesk.accounts.twofactor import recovery_codes_regenerate
from vulndesk.attachments.models import Attachment
from vulndesk.core.logs import JsonFormatter, RedactingFilter, redact
from vulndesk.reports.models import Message, Report
from vulndesk.reports.tasks import sla_sweep

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


class ListHandler(logging.Handler):
    """The console handler of settings.LOGGING, writing to a list instead of stderr."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        config = settings.LOGGING
        handler_config = config["handlers"]["console"]
        for name in handler_config["filters"]:
            self.addFilter(import_string(config["filters"][name]["()"])())
        self.setFormatter(import_string(config["formatters"][handler_config["formatter"]]["()"])())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines():
    """Every record of every logger at DEBUG, through the configured filter and formatter."""
    handler = ListHandler()
    root = logging.getLogger()
    configured = [logging.getLogger(name) for name in settings.LOGGING.get("loggers", {})]
    saved = [(logger, logger.level) for logger in [root, *configured]]
    for logger, _ in saved:
        logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler.lines
    root.removeHandler(handler)
    for logger, level in saved:
        logger.setLevel(level)


def test_the_list_handler_uses_the_configured_filter_and_formatter():
    handler = ListHandler()
    assert [type(f) for f in handler.filters] == [RedactingFilter]
    assert type(handler.formatter) is JsonFormatter


# --- the canary lifecycle ---------------------------------------------------------------------

SENTINELS = {
    "title": "Canary TITLE kestrel-plinth in the export endpoint",
    "description": "Canary DESCRIPTION quokka-marmalade: the export skips the ACL check.",
    "steps_to_reproduce": "Canary STEPS walrus-tangerine: GET /export?all=1 as a guest.",
    "impact": "Canary IMPACT narwhal-cobblestone: every customer record leaks.",
    "reporter_name": "Canary REPORTER Ottoline Fennimore",
    "reporter_email": "ottoline.canary@reporter-mail.example",
    "reporter_message": "Canary REPORTER-MESSAGE heron-saffron",
    "staff_message": "Canary STAFF-MESSAGE pelican-juniper",
    "attachment_name": "canary-attachment-gannet.txt",
    "attachment_body": "Canary ATTACHMENT-BODY osprey-cardamom",
    "api_title": "Canary API-TITLE puffin-nutmeg",
    "api_description": "Canary API-DESCRIPTION lemur-paprika",
    "staff_email": "staff.canary@vendor-mail.example",
    "wrong_password": "Canary-wrong-password-mongoose",
}


def _code_of_another_device(user) -> str:
    """A current TOTP code that was not used yet (django-otp refuses a code twice)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="second phone", confirmed=True)
    return totp_code(device)


def test_a_whole_report_lifecycle_logs_no_text_address_password_code_or_token(db, client, frozen_clock, smtp_sink,
                                                                             log_lines):
    organisation = make_organisation()
    product = make_product(organisation)
    owner = make_member(organisation, role="owner", email=SENTINELS["staff_email"])
    user = owner.user
    secrets = dict(SENTINELS)
    secrets["password"] = PASSWORD

    # The reporter files through the public form and follows the tracking link.
    form = {k: SENTINELS[k] for k in ("title", "description", "steps_to_reproduce", "impact", "reporter_name",
                                      "reporter_email")}
    submitted = client.post(f"/p/{organisation.slug}/{product.slug}/report/", form | {"affected_versions": "2.4.1"})
    assert submitted.status_code == 302, submitted.content[:500]
    tracking_path = submitted.url
    secrets["tracking_token"] = tracking_path.rstrip("/").rsplit("/", 1)[-1]
    report = Report.objects.get(organisation=organisation, number=1)
    assert client.get(tracking_path).status_code == 200
    assert client.post(tracking_path + "messages/", {"body": SENTINELS["reporter_message"]}).status_code == 302
    assert client.get(tracking_path).status_code == 200
    assert client.get("/track/" + "Z" * 43 + "/").status_code == 404  # a guessed token is logged redacted too

    # Staff: a failed login, then password and second factor.
    assert client.post("/accounts/login/", {"username": SENTINELS["staff_email"],
                                            "password": SENTINELS["wrong_password"]}).status_code == 200
    assert client.post("/accounts/login/", {"username": SENTINELS["staff_email"], "password": PASSWORD}).status_code == 302
    secrets["totp"] = totp_code(totp_device_for(user))
    assert client.post("/accounts/two-factor/", {"code": secrets["totp"]}).status_code == 302
    secrets["session"] = client.cookies[settings.SESSION_COOKIE_NAME].value
    base = f"/o/{organisation.slug}/reports/{report.number}/"
    assert client.get(base).status_code == 200

    # Triage: accept with a CVSS vector, message the reporter, attach a file, download it.
    assert client.post(base + "transition/", {"to": "accepted", "cvss_vector": CRITICAL}).status_code == 302
    assert client.post(base + "messages/", {"body": SENTINELS["staff_message"]}).status_code == 302
    upload = SimpleUploadedFile(SENTINELS["attachment_name"], (SENTINELS["attachment_body"] + "\n").encode())
    assert client.post(base + "attachments/", {"attachments": upload}).status_code == 302
    attachment = Attachment.objects.get(report=report)
    download = client.get(f"{base}attachments/{attachment.pk}/")
    assert b"".join(download.streaming_content).decode().strip() == SENTINELS["attachment_body"]

    # A CI token, made on the product page and used on the API.
    token_page = client.post(f"/o/{organisation.slug}/products/{product.slug}/api-tokens/",
                             {"name": "CI", "permission": "report:create", "lifetime_days": "30"})
    secrets["api_token"] = re.search(rb"vd_[A-Za-z0-9_-]{40,}", token_page.content).group().decode()
    api = Client()  # a second client without the session cookie, as a CI job or script would be
    created = api.post(f"/api/v1/organisations/{organisation.slug}/reports/",
                       json.dumps({"product": product.slug, "title": SENTINELS["api_title"],
                                   "description": SENTINELS["api_description"]}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Token {secrets['api_token']}")
    assert created.status_code == 201, created.content[:300]
    secrets["api_tracking_token"] = created.json()["tracking_url"].rstrip("/").rsplit("/", 1)[-1]
    bad = api.get(f"/api/v1/organisations/{organisation.slug}/reports/",
                  HTTP_AUTHORIZATION="Token vd_" + "Q" * 43)
    assert bad.status_code == 401

    # JWT: obtain with password and a recovery code, use, refresh, replay the old refresh token.
    secrets["recovery_code"] = recovery_codes_regenerate(user=user)[0]
    pair = api.post("/api/v1/auth/token/", json.dumps({"email": user.email, "password": PASSWORD,
                                                        "otp": secrets["recovery_code"]}),
                    content_type="application/json").json()
    secrets["access"], secrets["refresh"] = pair["access"], pair["refresh"]
    assert api.get(f"/api/v1/organisations/{organisation.slug}/reports/{report.number}/",
                   HTTP_AUTHORIZATION=f"Bearer {pair['access']}").status_code == 200
    rotated = api.post("/api/v1/auth/token/refresh/", json.dumps({"refresh": pair["refresh"]}),
                       content_type="application/json").json()
    secrets["access2"], secrets["refresh2"] = rotated["access"], rotated["refresh"]
    replay = api.post("/api/v1/auth/token/refresh/", json.dumps({"refresh": pair["refresh"]}),
                      content_type="application/json")
    assert replay.status_code == 401
    secrets["totp2"] = _code_of_another_device(user)
    assert api.post("/api/v1/auth/token/", json.dumps({"email": user.email, "password": PASSWORD,
                                                       "otp": secrets["totp2"]}),
                    content_type="application/json").status_code == 200

    # Time passes: the SLA sweep mails the owner through a real SMTP server.
    frozen_clock.advance(days=40)
    sla_sweep.call()
    assert smtp_sink.wait_for(1)
    assert Message.objects.filter(report=report).count() == 2

    # --- what the logs hold
    assert len(log_lines) > 20  # the access log alone has a line per request
    joined = "\n".join(log_lines)
    leaked = {name: value for name, value in secrets.items() if _appears(value, joined)}
    assert leaked == {}
    # Staff and reporter addresses from anywhere (mail recipients, axes, audit) are redacted too.
    assert "@" not in joined.replace("[redacted-email]", "")
    for line in log_lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), line
        assert entry["time"].endswith("+00:00")
    # The access log names the request without the tracking token.
    access = [json.loads(line) for line in log_lines if '"logger": "vulndesk.access"' in line]
    tracking = [entry for entry in access if entry["path"].startswith("/track/")]
    assert len(tracking) == 4  # two visits, the reply, the guessed token
    assert {entry["path"] for entry in tracking} == {"/track/[redacted]/", "/track/[redacted]/messages/"}
    assert any(entry["status"] == 201 and entry["path"].startswith("/api/v1/") for entry in access)


def _appears(value: str, text: str) -> bool:
    if value.isdigit():  # a six-digit code: only as a number of its own
        return re.search(rf"(?<!\d){value}(?!\d)", text) is not None
    return value in text or value.lower() in text.lower()


# --- one log record, one line (V16.4.1) ---------------------------------------------------------

def test_a_line_break_in_a_logged_value_stays_inside_one_json_line(log_lines):
    logging.getLogger("vulndesk.test").warning("login failed for %s", "mallory\n{\"level\": \"INFO\"} login ok")

    assert len(log_lines) == 1
    assert "\n" not in log_lines[0]
    entry = json.loads(log_lines[0])
    assert entry["message"].startswith("login failed for mallory\n")
    assert entry["level"] == "WARNING"


def test_sensitive_extra_fields_are_dropped_and_other_extras_are_scrubbed(log_lines):
    logging.getLogger("vulndesk.test").info(
        "report %s accepted", 7,
        extra={"title": "Canary in the title", "reporter_email": "a@b.example", "password": "hunter2hunter2",
               "note": "mail c@d.example", "report_id": 7},
    )

    entry = json.loads(log_lines[0])
    assert entry["message"] == "report 7 accepted"
    assert (entry["title"], entry["reporter_email"], entry["password"]) == ("[redacted]",) * 3
    assert entry["note"] == "mail [redacted-email]"
    assert entry["report_id"] == 7


def test_an_exception_traceback_is_redacted(log_lines):
    try:
        raise ValueError("token=abc123 for bob@example.org")
    except ValueError:
        logging.getLogger("vulndesk.test").exception("failed")

    entry = json.loads(log_lines[0])
    assert "abc123" not in entry["exception"] and "bob@example.org" not in entry["exception"]
    assert "token=[redacted]" in entry["exception"]


def test_a_broken_format_string_keeps_the_record_without_its_arguments(log_lines):
    logging.getLogger("vulndesk.test").error("%s and %s", "password=swordfish")

    entry = json.loads(log_lines[0])
    assert entry["message"] == "%s and %s"
    assert "swordfish" not in log_lines[0]


# --- redact(): one test per pattern ---------------------------------------------------------------

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlcl9pZCI6MX0"
       ".c2lnbmF0dXJlLXBhcnQtaGVyZQ")


@pytest.mark.parametrize(("text", "expected"), [
    ("GET /track/AbCdEf0123456789_-xyz/ 200", "GET /track/[redacted]/ 200"),
    ("GET /track/short/messages/ 302", "GET /track/[redacted]/messages/ 302"),
    ("/track/tok/attachments/3/", "/track/[redacted]/attachments/3/"),
    (f"Authorization: Bearer {JWT}", "Authorization: [redacted] [redacted-jwt]"),
    (f"refresh {JWT} reused", "refresh [redacted-jwt] reused"),
    ("Token vd_" + "a1B2c3D4e5" * 4 + " used", "Token [redacted-token] used"),
    ("password=hunter2&next=/", "password=[redacted]&next=/"),
    ("PASSWORD: 'correct horse'", "PASSWORD: [redacted]"),
    ('secret="s3cr3t value"', "secret=[redacted]"),
    ("api_key=abc, next", "api_key=[redacted], next"),
    ("api-key: abc", "api-key: [redacted]"),
    ("cookie: sessionid=xyz", "cookie: [redacted]"),
    ("sessionid=abc; csrftoken=" + "Zq9" * 22, "sessionid=[redacted]; csrftoken=[redacted]"),
    ("csrfmiddlewaretoken=abc&x=1", "csrfmiddlewaretoken=[redacted]&x=1"),
    ("token = abc", "token = [redacted]"),
    ("mail to Jane.Doe+cvd@sub.example.org now", "mail to [redacted-email] now"),
    ("x" * 31, "x" * 31),
    ("session " + "k" * 32 + " ended", "session [redacted] ended"),
    ("report 42 accepted by user 7", "report 42 accepted by user 7"),
], ids=["tracking", "tracking-messages", "tracking-attachment", "bearer-jwt", "bare-jwt", "api-token",
        "password-query", "password-quoted", "secret-quoted", "api_key", "api-key", "cookie", "sessionid",
        "csrf", "token-spaced", "email", "31-chars-kept", "32-chars-redacted", "ids-kept"])
def test_redact_removes_each_kind_of_secret_and_keeps_ids(text, expected):
    assert redact(text) == expected


def test_redact_is_idempotent_on_its_own_output():
    once = redact(f"/track/abc/ {JWT} vd_{'x' * 30} a@b.example password=p {'k' * 40}")
    assert redact(once) == once
