"""Calls to CVE Services through cvelib, with bounded retries and errors a person can act on.

Only server errors (5xx) and failed connections are retried, with exponential back-off
(``CVE_SERVICES_TRIES`` attempts in all, default 3; ``CVE_SERVICES_BACKOFF_SECONDS`` before
the second, doubling after, default 0.5). A 4xx answer is final: retrying would not change it.
A read timeout is not retried either, because the request may have been processed.

A call that must not be repeated blindly (reserving an ID: a repeat after a lost answer would
take a second ID from the quota) passes ``retry=False``; then every failure after which the
request may have been processed raises ``CveServicesAnswerLost``, and the caller finds out what
happened before trying again (``services.cve_id_reserve``).

Logs name the organisation, the operation and the HTTP status; never the API key, the user or
the record.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from cvelib.cve_api import CveApi
from django.conf import settings
from urllib3.exceptions import NewConnectionError

from vulndesk.core.errors import DomainError

logger = logging.getLogger("vulndesk.cve")
T = TypeVar("T")


class CveServicesError(DomainError):
    """CVE Services answered with an error, or not at all. ``service_code`` is CVE Services' own
    error code (``EXCEEDED_ID_QUOTA``, ``CVE_RECORD_EXISTS``…) when it gave one."""

    status_code = 502
    code = "cve_services"
    service_code = ""


class CveServicesUnavailable(CveServicesError):
    code = "cve_services_unavailable"


class CveCredentialsRefused(CveServicesError):
    code = "cve_credentials_refused"


class CveQuotaExceeded(CveServicesError):
    code = "cve_quota_exceeded"


class CveServicesNotFound(CveServicesError):
    code = "cve_services_not_found"


class CveServicesRefused(CveServicesError):
    code = "cve_services_refused"


class CveServicesAnswerLost(CveServicesUnavailable):
    """The request may have been processed, but no usable answer came back (a gateway error, a
    server error, a timeout, a dropped connection, an answer that is not JSON)."""

    code = "cve_services_answer_lost"


def _never_sent(error: requests.ConnectionError) -> bool:
    """The connection was never made (refused, unresolvable, connect timeout): the request did
    not leave, so nothing can have been processed."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def api_for(account) -> CveApi:
    return CveApi(username=account.username, org=account.short_name, api_key=account.api_key,
                  url=account.endpoint_url)


def call(account, request: Callable[[CveApi], T], *, operation: str, subject: str = "", retry: bool = True) -> T:
    """Run ``request(api)``; ``operation`` completes "could not …" in messages. ``retry=False``:
    one attempt, and ``CveServicesAnswerLost`` whenever it may have been processed."""
    tries = max(1, int(getattr(settings, "CVE_SERVICES_TRIES", 3))) if retry else 1
    backoff = float(getattr(settings, "CVE_SERVICES_BACKOFF_SECONDS", 0.5))
    api = api_for(account)
    for attempt in range(1, tries + 1):
        retry_reason = ""
        try:
            return request(api)
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else 0
            if not retry and 500 <= status <= 599:
                _log(account, operation, f"HTTP {status}", attempt)
                raise CveServicesAnswerLost(
                    f"CVE Services failed (HTTP {status}) while trying to {operation}; the request may still "
                    "have been processed.") from None
            if not 500 <= status <= 599 or attempt == tries:
                _log(account, operation, f"HTTP {status}", attempt)
                raise translate(error.response, operation=operation, subject=subject, attempts=attempt) from None
            retry_reason = f"HTTP {status}"
        except requests.ReadTimeout:
            _log(account, operation, "read timeout", attempt)
            error_class = CveServicesUnavailable if retry else CveServicesAnswerLost
            raise error_class(
                f"CVE Services did not answer in time while trying to {operation}. The request may still have "
                "been processed: check at CVE Services before trying again.") from None
        except requests.ConnectionError as error:
            if not retry and not _never_sent(error):
                _log(account, operation, "connection lost", attempt)
                raise CveServicesAnswerLost(f"The connection to CVE Services broke while trying to {operation}; "
                                            "the request may still have been processed.") from None
            if attempt == tries:
                _log(account, operation, "connection failed", attempt)
                raise CveServicesUnavailable(
                    f"Could not connect to CVE Services at {account.endpoint_url} to {operation} ({tries} attempts). "
                    "Nothing was changed; check the address in the CNA settings or try again later.") from None
            retry_reason = "connection failed"
        except requests.JSONDecodeError:
            _log(account, operation, "answer is not JSON", attempt)
            error_class = CveServicesUnavailable if retry else CveServicesAnswerLost
            raise error_class(f"CVE Services answered with something other than JSON while trying to "
                              f"{operation}; check the address in the CNA settings.") from None
        except requests.RequestException:
            _log(account, operation, "request failed", attempt)
            error_class = CveServicesUnavailable if retry else CveServicesAnswerLost
            raise error_class(f"The request to CVE Services failed while trying to {operation}.") from None
        delay = backoff * 2 ** (attempt - 1)
        logger.warning("cve_services.retry organisation=%s operation=%s reason=%s attempt=%s delay=%.2f",
                       account.organisation_id, operation, retry_reason, attempt, delay)
        time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _log(account, operation: str, reason: str, attempt: int) -> None:
    logger.warning("cve_services.failed organisation=%s operation=%s reason=%s attempts=%s",
                   account.organisation_id, operation, reason, attempt)


def _body(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def service_text(value, limit: int = 300) -> str:
    """Text from CVE Services for our messages: single line, printable, bounded."""
    text = "".join(c if c.isprintable() else " " for c in str(value or "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def translate(response, *, operation: str, subject: str = "", attempts: int = 1) -> CveServicesError:
    error = _translate(response, operation=operation, subject=subject, attempts=attempts)
    body = _body(response) if response is not None else {}
    error.service_code = service_text(body.get("error"), 60)
    return error


def _translate(response, *, operation: str, subject: str, attempts: int) -> CveServicesError:
    status = response.status_code if response is not None else 0
    body = _body(response) if response is not None else {}
    code = service_text(body.get("error"), 60)
    message = service_text(body.get("message"))
    said = f" ({code}: {message})" if code and message else (f" ({message or code})" if message or code else "")
    if status >= 500:
        return CveServicesUnavailable(
            f"CVE Services failed (HTTP {status}) {attempts} time{'s' if attempts != 1 else ''} in a row while "
            f"trying to {operation}. Nothing was changed here; try again later.")
    if status == 401:
        return CveCredentialsRefused(
            "CVE Services did not accept the credentials (HTTP 401). Check the CNA short name, the user and the "
            "API key in the CNA settings; keys can be reset by your CNA's CVE Services administrator.")
    if status == 403 and code == "EXCEEDED_ID_QUOTA":
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        counts = ""
        if str(details.get("total_reserved", "")).isdigit() and str(details.get("id_quota", "")).isdigit():
            counts = f" ({details['total_reserved']} of {details['id_quota']} IDs are reserved)"
        return CveQuotaExceeded(
            f"Your CNA's CVE ID quota is used up{counts}. Publish or reject reserved IDs, or ask for a higher "
            "quota, then try again.")
    if status == 403:
        return CveServicesRefused(f"CVE Services refused to {operation} (HTTP 403){said}. Check that the CNA "
                                  "short name and user in the CNA settings are right for this ID.")
    if status == 404:
        return CveServicesNotFound(f"CVE Services does not know {subject or 'this'} (HTTP 404){said}.")
    if status == 429:
        return CveServicesRefused("CVE Services is limiting the request rate (HTTP 429). Wait a minute, then try "
                                  "again.")
    if code == "CVE_RECORD_EXISTS":
        return CveServicesRefused(f"{subject or 'This CVE ID'} already has a published record at CVE Services; "
                                  "use Update instead.")
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    errors = details.get("errors") if isinstance(details.get("errors"), list) else []
    listed = "; ".join(service_text(e, 160) for e in errors[:5])
    return CveServicesRefused(f"CVE Services refused to {operation} (HTTP {status}){said}"
                              + (f": {listed}" if listed else "") + ".")
