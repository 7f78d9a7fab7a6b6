"""Deliveries: who is told what, exactly once, with retries.

The flow (each step is safe to run twice):

1. **Fan-out** (``advisory_revision_fan_out``), after a revision is published or an advisory
   withdrawn: in *one* transaction, one ``Delivery`` row per confirmed subscriber (one per
   address, even when subscribed to the organisation and a product), per active webhook that
   wants the event, and per reporter concerned; plus the ``FanOut`` marker. The unique
   constraints make a second run create nothing. Then one send task per pending row.
2. **Send** (``delivery_send``): *claim* the row under a row lock (still pending, due, not
   claimed by a live worker; count the attempt; lease it), send outside any transaction (a
   slow receiver must not hold a database lock), then *record* the outcome under the row lock:
   sent, cancelled (target gone), back off (``retry_delay``) or give up after
   ``NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS``. Sending a row that is not pending does nothing.
3. **Sweep** (``deliveries_due`` + ``fan_outs_missing``, run by the periodic task): re-sends
   rows whose back-off has passed or whose worker died mid-send (lease expired), and runs the
   fan-out of recent revisions that have none (signal lost between commit and enqueue).

A worker that dies after the receiver got the message but before step 2 recorded it leads to
one repeat after the lease; receivers de-duplicate on ``X-Vulndesk-Delivery`` (the same id on
every attempt), and mail carries the same ``Message-ID`` on every attempt.

What is sent reads only published data: the revision's frozen OSV document
(``AdvisoryRevision.snapshot``, the ``public_document`` of that revision) of an ``is_public``
advisory, never the live fields, so the embargo holds.
"""

import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse

from vulndesk.advisories.models import Advisory, AdvisoryRevision
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.notifications import mails
from vulndesk.notifications.addresses import InvalidAddress, address_normalise
from vulndesk.notifications.config import setting
from vulndesk.notifications.egress import (
    Resolver,
    UnsafeWebhookURL,
    system_resolver,
    webhook_post,
    webhook_target,
)
from vulndesk.notifications.models import Delivery, DeliveryAttempt, Event, FanOut, Subscriber, Webhook
from vulndesk.notifications.signatures import HEADER, signature_header
from vulndesk.notifications.tokens import unsubscribe_token
from vulndesk.organisations.models import SETTINGS_ROLES, Membership
from vulndesk.pgp.outbound import ReporterKeyUnusable, report_mail_protect
from vulndesk.reports.models import Report
from vulndesk.reports.states import ReportState

logger = logging.getLogger(__name__)

REPORTER_STATE_EVENTS = {
    ReportState.ACCEPTED: Event.REPORT_ACCEPTED,
    ReportState.FIXED: Event.REPORT_FIXED,
    ReportState.DUPLICATE: Event.REPORT_DUPLICATE,
    ReportState.INVALID: Event.REPORT_INVALID,
    ReportState.OUT_OF_SCOPE: Event.REPORT_OUT_OF_SCOPE,
    ReportState.WONT_FIX: Event.REPORT_WONT_FIX,
    ReportState.DISCLOSED: Event.REPORT_DISCLOSED,
}


@dataclass(frozen=True)
class SendResult:
    outcome: str  # "sent", "cancelled", or an error kind: http_status, connection, timeout, tls, refused, smtp, error
    status_code: int | None = None


def retry_delay(attempts: int) -> timedelta:
    """Exponential back-off after the ``attempts``-th failed attempt."""
    base, cap = setting("NOTIFICATIONS_RETRY_BASE_SECONDS"), setting("NOTIFICATIONS_RETRY_MAX_SECONDS")
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def event_for_revision(revision: AdvisoryRevision) -> str:
    if revision.snapshot.get("withdrawn"):
        return Event.ADVISORY_WITHDRAWN
    return Event.ADVISORY_PUBLISHED if revision.revision == 1 else Event.ADVISORY_UPDATED


def _published_revision(advisory_id: int, revision: int) -> tuple[Advisory, AdvisoryRevision] | None:
    advisory = Advisory.objects.select_related("organisation").filter(pk=advisory_id, is_public=True).first()
    if advisory is None:
        return None
    frozen = AdvisoryRevision.objects.filter(advisory=advisory, revision=revision).first()
    return (advisory, frozen) if frozen is not None else None


def _credit_of(report: Report, document: dict) -> str:
    """The name under which ``document`` credits the reporter (their handle), or ""."""
    handle = (report.reporter_handle or "").strip()
    if not handle:
        return ""
    for credit in document.get("credits") or []:
        if str(credit.get("name", "")).strip().casefold() == handle.casefold():
            return str(credit["name"])
    return ""


# --- 1. fan-out ------------------------------------------------------------------------------

def _subscriber_ids(advisory: Advisory, frozen: AdvisoryRevision, event: str) -> list[int]:
    """Confirmed before the revision went out, subscribed to the organisation or to one of the
    advisory's products; one row per address (organisation-wide subscriptions first)."""
    rows = (Subscriber.objects
            .filter(organisation_id=advisory.organisation_id, status=Subscriber.Status.CONFIRMED,
                    confirmed_at__lte=frozen.published_at)
            .filter(Q(product__isnull=True) | Q(product_id__in=advisory.public_product_ids or []))
            .order_by(F("product_id").asc(nulls_first=True), "pk")
            .values_list("pk", "address_hash"))
    # An address already served for this revision (by another of its rows, on an earlier run)
    # is not served again.
    seen = set(Delivery.objects.filter(advisory=advisory, revision=frozen.revision, event=event,
                                       channel=Delivery.Channel.EMAIL)
               .values_list("subscriber__address_hash", flat=True))
    chosen = []
    for pk, digest in rows.iterator():
        if digest in seen:
            continue
        seen.add(digest)
        chosen.append(pk)
    return chosen


def _reporter_rows(advisory: Advisory, frozen: AdvisoryRevision, event: str, now) -> list[Delivery]:
    if event == Event.ADVISORY_WITHDRAWN:
        return []
    previous = None
    if event == Event.ADVISORY_UPDATED:
        previous = AdvisoryRevision.objects.filter(advisory=advisory, revision__lt=frozen.revision).order_by(
            "-revision").first()
    rows = []
    for report in advisory.reports.select_related("organisation"):
        if not report.reporter_email:
            continue
        common = {"organisation_id": advisory.organisation_id, "channel": Delivery.Channel.REPORTER,
                  "report": report, "advisory": advisory, "revision": frozen.revision, "next_attempt_at": now,
                  "created_at": now}
        if event == Event.ADVISORY_PUBLISHED:
            rows.append(Delivery(event=Event.REPORT_ADVISORY_PUBLISHED, occurrence=f"advisory:{advisory.pk}",
                                 **common))
        elif _credit_of(report, frozen.snapshot) and not (previous and _credit_of(report, previous.snapshot)):
            rows.append(Delivery(event=Event.REPORT_CREDITED, occurrence=f"advisory:{advisory.pk}:{frozen.revision}",
                                 **common))
    return rows


def advisory_revision_fan_out(*, advisory_id: int, revision: int) -> list[int]:
    """Create the deliveries of one published revision (idempotent); return the ids of the
    rows still pending, for the caller to enqueue after this commits."""
    now = clock.now()
    with transaction.atomic():
        found = _published_revision(advisory_id, revision)
        if found is None:
            logger.warning("fan-out skipped: advisory %s revision %s is not published", advisory_id, revision)
            return []
        advisory, frozen = found
        event = event_for_revision(frozen)
        common = {"organisation_id": advisory.organisation_id, "advisory": advisory, "revision": revision,
                  "event": event, "next_attempt_at": now, "created_at": now}
        rows = [Delivery(channel=Delivery.Channel.EMAIL, subscriber_id=pk, **common)
                for pk in _subscriber_ids(advisory, frozen, event)]
        rows += [Delivery(channel=Delivery.Channel.WEBHOOK, webhook_id=webhook.pk, **common)
                 for webhook in Webhook.objects.filter(organisation_id=advisory.organisation_id, is_active=True)
                 if event in webhook.events]
        rows += _reporter_rows(advisory, frozen, event, now)
        # ignore_conflicts: rows of an earlier (interrupted) run stay as they are.
        Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        FanOut.objects.get_or_create(advisory=advisory, revision=revision,
                                     defaults={"event": event, "deliveries": len(rows), "created_at": now})
        pending = list(Delivery.objects.filter(advisory=advisory, revision=revision, status=Delivery.Status.PENDING)
                       .order_by("pk").values_list("pk", flat=True))
    logger.info("fan-out of advisory %s revision %s (%s): %s pending", advisory_id, revision, event, len(pending))
    return pending


def fan_outs_missing(*, limit: int = 200) -> list[tuple[int, int]]:
    """(advisory id, revision) of recently published revisions without a fan-out."""
    since = clock.now() - timedelta(hours=setting("NOTIFICATIONS_FAN_OUT_LOOKBACK_HOURS"))
    done = FanOut.objects.filter(advisory_id=OuterRef("advisory_id"), revision=OuterRef("revision"))
    return list(AdvisoryRevision.objects.filter(published_at__gte=since, advisory__is_public=True)
                .exclude(Exists(done)).order_by("published_at", "pk")
                .values_list("advisory_id", "revision")[:limit])


# --- reporter events ---------------------------------------------------------------------------

def _reporter_row(*, report: Report, event: str, occurrence: str, advisory: Advisory | None = None) -> int | None:
    now = clock.now()
    with transaction.atomic():
        Delivery.objects.bulk_create([Delivery(
            organisation_id=report.organisation_id, channel=Delivery.Channel.REPORTER, report=report, event=event,
            occurrence=occurrence[:100], advisory=advisory, next_attempt_at=now, created_at=now)],
            ignore_conflicts=True)
        return (Delivery.objects.filter(report=report, event=event, occurrence=occurrence[:100],
                                        status=Delivery.Status.PENDING).values_list("pk", flat=True).first())


def reporter_state_notice(*, report_id: int, state: str, at=None) -> int | None:
    """The reporter's mail about a state change of their report, if it concerns them and they
    gave an address. Returns the pending delivery id (for the caller to enqueue)."""
    event = REPORTER_STATE_EVENTS.get(state)
    if event is None:
        return None
    report = Report.objects.select_related("organisation").filter(pk=report_id).first()
    if report is None or not report.reporter_email:
        return None
    if state == ReportState.DISCLOSED and report.advisories.filter(is_public=True).exists():
        return None  # disclosed by publishing an advisory: the advisory mail says so
    moment = at or clock.now()
    return _reporter_row(report=report, event=event, occurrence=f"state:{state}:{moment.isoformat()}")


def reporter_advisory_scheduled_notices(*, advisory_id: int) -> list[int]:
    """Tell the reporters of an advisory that it is scheduled: once per advisory, no date and
    no content (both are embargoed)."""
    advisory = Advisory.objects.filter(pk=advisory_id).first()
    if advisory is None:
        return []
    ids = []
    for report in advisory.reports.select_related("organisation"):
        if report.reporter_email:
            row = _reporter_row(report=report, event=Event.REPORT_ADVISORY_SCHEDULED,
                                occurrence=f"advisory:{advisory.pk}", advisory=advisory)
            if row:
                ids.append(row)
    return ids


# --- 2. send -----------------------------------------------------------------------------------

def delivery_claim(delivery_id: int) -> Delivery | None:
    """Take a pending, due, unclaimed delivery for one attempt (under its row lock), or None."""
    now = clock.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status != Delivery.Status.PENDING or delivery.next_attempt_at > now:
            return None
        if delivery.claimed_until is not None and delivery.claimed_until > now:
            return None  # a live worker is on it
        if delivery.attempts >= setting("NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS"):
            delivery.status, delivery.claimed_until = Delivery.Status.FAILED, None  # died on its last attempt
            delivery.save(update_fields=["status", "claimed_until"])
            return None
        delivery.attempts += 1
        delivery.claimed_until = now + timedelta(seconds=setting("NOTIFICATIONS_SEND_LEASE_SECONDS"))
        delivery.save(update_fields=["attempts", "claimed_until"])
    return (Delivery.objects.select_related("organisation", "advisory", "subscriber__product", "webhook",
                                            "report__organisation").filter(pk=delivery_id).first())


def _record(delivery_id: int, result: SendResult) -> Delivery | None:
    now = clock.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None  # its webhook (or subscriber) was deleted meanwhile, log and all
        number = DeliveryAttempt.objects.filter(delivery=delivery).count() + 1
        DeliveryAttempt.objects.create(delivery=delivery, number=number, at=now, status_code=result.status_code,
                                       outcome=result.outcome)
        delivery.claimed_until, delivery.last_status_code = None, result.status_code
        delivery.last_error = "" if result.outcome == "sent" else result.outcome
        if delivery.status != Delivery.Status.PENDING:
            pass  # cancelled while we were sending (unsubscribe, webhook disabled): keep that
        elif result.outcome == "sent":
            delivery.status, delivery.sent_at = Delivery.Status.SENT, now
        elif result.outcome == "cancelled":
            delivery.status = Delivery.Status.CANCELLED
        elif delivery.attempts >= setting("NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS"):
            delivery.status = Delivery.Status.FAILED
            logger.warning("delivery %s gave up after %s attempts (%s)", delivery.pk, delivery.attempts,
                           result.outcome)
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
        delivery.save()
    return delivery


def _smtp_result(error: Exception) -> SendResult:
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code = next(iter(error.recipients.values()))[0]
    return SendResult("smtp", code if isinstance(code, int) else None)


def _send_mail(message) -> SendResult:
    try:
        message.send()
    except smtplib.SMTPException as error:
        return _smtp_result(error)
    except OSError:
        return SendResult("connection")
    return SendResult("sent", 250)


def _message_id(delivery: Delivery) -> str:
    return f"<delivery.{delivery.public_id}@{mails.site_host()}>"


def _send_email(delivery: Delivery, resolver: Resolver) -> SendResult:
    subscriber = delivery.subscriber
    found = _published_revision(delivery.advisory_id, delivery.revision)
    if subscriber.status != Subscriber.Status.CONFIRMED or found is None:
        return SendResult("cancelled")
    advisory, frozen = found
    organisation = delivery.organisation
    scope = f"{organisation.name} security advisories" + (
        f" for {subscriber.product.name}" if subscriber.product_id else "")
    token = unsubscribe_token(subscriber_id=subscriber.pk, address_hash=subscriber.address_hash)
    message = mails.advisory_mail(
        to=subscriber.address, organisation_name=organisation.name, organisation_slug=organisation.slug,
        identifier=advisory.identifier,
        event=delivery.event, document=frozen.snapshot, changelog=frozen.changelog,
        unsubscribe_url=mails.absolute(reverse("notifications:unsubscribe", kwargs={"token": token})),
        scope_label=scope, message_id=_message_id(delivery),
    )
    return _send_mail(message)


def webhook_payload(*, delivery: Delivery, advisory: Advisory, document: dict) -> bytes:
    payload = {
        "type": delivery.event,
        "delivery": str(delivery.public_id),
        "organisation": delivery.organisation.slug,
        "advisory": {"identifier": advisory.identifier, "revision": delivery.revision},
        "osv": document,
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _send_webhook(delivery: Delivery, resolver: Resolver) -> SendResult:
    webhook = delivery.webhook
    found = _published_revision(delivery.advisory_id, delivery.revision)
    if not webhook.is_active or found is None:
        return SendResult("cancelled")
    advisory, frozen = found
    try:
        target = webhook_target(webhook.url, resolver=resolver)  # checked again at every delivery
    except UnsafeWebhookURL:
        logger.warning("webhook %s delivery %s refused by the SSRF guard", webhook.pk, delivery.pk)
        return SendResult("refused")
    now = clock.now()
    body = webhook_payload(delivery=delivery, advisory=advisory, document=frozen.snapshot)
    secrets_in_use = [webhook.secret]
    if webhook.previous_secret and webhook.previous_secret_expires_at and webhook.previous_secret_expires_at > now:
        secrets_in_use.append(webhook.previous_secret)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "vulndesk-webhooks/1",
        "X-Vulndesk-Event": delivery.event,
        "X-Vulndesk-Delivery": str(delivery.public_id),
        HEADER: signature_header(secrets_in_use=secrets_in_use, timestamp=int(now.timestamp()), body=body),
    }
    try:
        status = webhook_post(target, body=body, headers=headers)
    except ssl.SSLError:
        logger.warning("webhook %s delivery %s: TLS failure", webhook.pk, delivery.pk)
        return SendResult("tls")
    except TimeoutError:
        return SendResult("timeout")
    except OSError:
        return SendResult("connection")
    except Exception as error:  # http.client.HTTPException and kin: a broken response
        logger.warning("webhook %s delivery %s: bad response (%s)", webhook.pk, delivery.pk, type(error).__name__)
        return SendResult("bad_response")
    return SendResult("sent" if 200 <= status < 300 else "http_status", status)


def _send_reporter(delivery: Delivery, resolver: Resolver) -> SendResult:
    report = delivery.report
    try:
        address = address_normalise(report.reporter_email)
    except InvalidAddress:
        return SendResult("cancelled")
    organisation = report.organisation
    values = {"identifier": "", "title": "", "credit": ""}
    if delivery.event in {Event.REPORT_ADVISORY_PUBLISHED, Event.REPORT_CREDITED}:
        found = _published_revision(delivery.advisory_id, delivery.revision)
        if found is None:
            return SendResult("cancelled")  # withdrawn from view or never published
        advisory, frozen = found
        details = frozen.snapshot.get("database_specific") or {}
        values = {"identifier": advisory.identifier, "title": details.get("title") or frozen.snapshot.get("summary", ""),
                  "credit": _credit_of(report, frozen.snapshot)}
    state_label = ""
    for state, event in REPORTER_STATE_EVENTS.items():
        if event == delivery.event:
            state_label = state.label
    message = mails.reporter_mail(
        to=address, event=delivery.event, organisation_name=organisation.name, organisation_slug=organisation.slug,
        reference=report.reference,
        state_label=state_label, reply_to=organisation.security_contact_email, message_id=_message_id(delivery),
        **values,
    )
    try:
        # A reporter who gave an OpenPGP key (web form or mail) gets every mail encrypted to it;
        # the outer subject, which travels in clear, names only the report.
        message = report_mail_protect(report=report, mail=message, subject=f"[{report.reference}] Your security report")
    except ReporterKeyUnusable as error:
        # They asked for encryption and it cannot be done (key expired): nothing goes out in clear.
        logger.warning("delivery %s to the reporter of report %s not sent: %s", delivery.pk, report.pk, error.message)
        return SendResult("cancelled")
    return _send_mail(message)


_SENDERS = {
    Delivery.Channel.EMAIL: _send_email,
    Delivery.Channel.WEBHOOK: _send_webhook,
    Delivery.Channel.REPORTER: _send_reporter,
}


def delivery_send(*, delivery_id: int, resolver: Resolver = system_resolver) -> str:
    """One attempt at one delivery. Returns the delivery's status afterwards, or "skipped"
    when there was nothing to do (sent already, not due, claimed by another worker)."""
    delivery = delivery_claim(delivery_id)
    if delivery is None:
        return "skipped"
    try:
        result = _SENDERS[delivery.channel](delivery, resolver)
    except Exception:
        # A bug or an unexpected library error: recorded as a failed attempt and retried,
        # so one bad row cannot stop the queue; the traceback goes to the (redacted) log.
        logger.exception("delivery %s failed unexpectedly", delivery_id)
        result = SendResult("error")
    delivery = _record(delivery_id, result)
    if delivery is None:
        return "deleted"
    logger.info("delivery %s (%s %s) attempt %s: %s %s", delivery.pk, delivery.channel, delivery.event,
                delivery.attempts, result.outcome, result.status_code or "")
    return delivery.status


# --- 3. sweep and staff actions --------------------------------------------------------------

def deliveries_due(*, limit: int = 500) -> list[int]:
    now = clock.now()
    return list(Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
                .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
                .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


def delivery_retry(*, delivery: Delivery, actor: Membership) -> Delivery:
    """Staff: try a delivery that gave up again, with a fresh set of attempts."""
    if actor.organisation_id != delivery.organisation_id:
        raise NotFound
    if actor.role not in SETTINGS_ROLES:
        raise NotAllowed
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status != Delivery.Status.FAILED:
            raise DomainError("Only a delivery that gave up can be retried.", field="status")
        delivery.status, delivery.attempts, delivery.next_attempt_at = Delivery.Status.PENDING, 0, clock.now()
        delivery.claimed_until = None
        delivery.save()
        audit_record(action="delivery.retry", organisation_id=delivery.organisation_id, actor_id=actor.user_id,
                     actor_label=actor.user.display_name, target_type="delivery", target_id=delivery.pk)
        from vulndesk.notifications.tasks import send_delivery

        delivery_id = delivery.pk
        transaction.on_commit(lambda: send_delivery.enqueue(delivery_id=delivery_id))
    return delivery
