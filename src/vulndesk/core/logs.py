"""Structured JSON logs that never carry secrets, tokens, e-mail addresses or report text.

Every record passes ``RedactingFilter``: known-sensitive fields are dropped, and the message
and remaining fields are scrubbed of e-mail addresses, bearer/JWT/API tokens, tracking-link
tokens, passwords in query strings and cookies. Our own code logs ids and actions only; the
filter is the safety net for third-party messages (Django, DRF, gunicorn, django-tasks).
"""

import json
import logging
import re
import time
from datetime import UTC, datetime

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_API_TOKEN = re.compile(r"vd_[A-Za-z0-9_-]{20,}")
_TRACKING_PATH = re.compile(r"/(track|embargo)/[^/\s?#\"']+")
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|secret|token|api[_-]?key|authorization|cookie|csrfmiddlewaretoken|sessionid)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;]+)"
)
# A long run of token-like characters (session ids, tracking tokens, keys) anywhere else.
_LONG_TOKEN = re.compile(r"\b[A-Za-z0-9_-]{32,}\b")

SENSITIVE_FIELDS = {"password", "token", "authorization", "cookie", "request", "body", "description",
                    "steps_to_reproduce", "impact", "suggested_fix", "title", "reporter_email", "reporter_name",
                    "email", "secret", "otp", "code"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(text: str) -> str:
    text = _TRACKING_PATH.sub(lambda m: f"/{m.group(1)}/[redacted]", text)
    text = _JWT.sub("[redacted-jwt]", text)
    text = _API_TOKEN.sub("[redacted-token]", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _EMAIL.sub("[redacted-email]", text)
    return _LONG_TOKEN.sub("[redacted]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record or leak its args
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        for name in list(vars(record)):
            if name in _STANDARD:
                continue
            if name.lower() in SENSITIVE_FIELDS:
                setattr(record, name, "[redacted]")
            elif isinstance(getattr(record, name), str):
                setattr(record, name, redact(getattr(record, name)))
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_") and isinstance(value, str | int | float | bool):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


access_logger = logging.getLogger("vulndesk.access")


class AccessLogMiddleware:
    """One JSON line per request: method, redacted path, status, duration, user id. Replaces
    gunicorn's access log, which would print tracking-link tokens in paths."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        access_logger.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={
                "method": request.method,
                "path": redact(request.path),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
        return response
