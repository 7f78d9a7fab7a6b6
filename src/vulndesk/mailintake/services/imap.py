"""IMAP polling: the mailboxes staff configure, and the poll that imports their mail.

For organisations that keep their mail provider, a poll keeps the intake's promise (nothing
lost, nothing doubled, nothing half-imported) in three steps per batch:

1. fetch the messages not yet marked (``imap.ImapSession.pending``); one over
   ``MAIL_INTAKE_MAX_BYTES`` is never fetched whole: its header alone is stored, straight into
   quarantine with the reason, and the message stays on the server;
2. store them through the SMTP path (``inbound_store_deliveries``): one durable commit for the
   batch, processing queued in the same commit, routed as if delivered by SMTP to the address
   they were sent to (reply and product sub-addresses included, within this organisation);
3. only then mark them on the server (keyword ``$VulndeskImported``, and a move when a processed
   folder is set).

A poller that dies between 2 and 3 leaves the messages unmarked; the next poll fetches them again,
the store recognises each (idempotency key: Message-ID, From, Date, Subject and body hash, which
is the raw content when there is no Message-ID) and stores nothing, and the messages are marked.
One that dies during 2 committed nothing of the batch.

Two pollers of one mailbox never run together: a lease on the row (token, expiry), renewed at
each batch; a poller that finds the lease of a dead process on the same host takes it over at
once, otherwise it waits for the expiry. Polls by the scheduler back off after failures.

Status fields hold our own words only (at most a certificate check's reason, from OpenSSL); logs
name the mailbox id and the failed step, never a user name, password or anything from a message.
"""

import logging
import os
import secrets
import socket
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F, Q

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.mailintake import imap
from vulndesk.mailintake.addresses import one_line
from vulndesk.mailintake.imap import ImapProblem, ImapSession, ImapTarget, InvalidImapSetting
from vulndesk.mailintake.models import ImapMailbox, ImapPollResult, IntakeAddress
from vulndesk.mailintake.routing import Route, route_for_recipient
from vulndesk.mailintake.services.inbound import Delivery, inbound_store_deliveries
from vulndesk.organisations.models import SETTINGS_ROLES, Membership
from vulndesk.products.models import Product

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
BATCH_SIZE = 20  # messages per durable commit
PER_POLL_LIMIT = 1000  # the rest waits for the next poll
LEASE = timedelta(minutes=10)
INTERVAL_MIN_SECONDS, INTERVAL_MAX_SECONDS = 60, 24 * 3600
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")
RECIPIENTS_LOOKED_AT = 20


def _setting(name: str, default):
    return getattr(settings, f"MAIL_INTAKE_{name}", default)


def max_bytes() -> int:
    return _setting("MAX_BYTES", DEFAULT_MAX_BYTES)


# --- staff settings -------------------------------------------------------------------------------

def _check(actor: Membership, organisation_id: int) -> None:
    if actor.organisation_id != organisation_id:
        raise NotFound
    if actor.role not in SETTINGS_ROLES:
        raise NotAllowed


def _audit(action: str, *, actor: Membership, mailbox: ImapMailbox, **data) -> None:
    audit_record(action=action, organisation_id=mailbox.organisation_id, actor_id=actor.user_id,
                 actor_label=actor.user.display_name, target_type="imap_mailbox", target_id=mailbox.pk, data=data)


@dataclass(frozen=True)
class MailboxSettings:
    """What staff set (the form's cleaned data). ``password`` empty: keep the stored one."""

    name: str
    host: str
    port: int
    security: str
    username: str
    password: str = ""
    folder: str = "INBOX"
    processed_folder: str = ""
    trusted_certificate: str = ""
    import_since: date | None = None
    poll_interval_seconds: int = 300
    address: IntakeAddress | None = None
    product: Product | None = None


# Changing any of these sends the stored password somewhere else (or past another check), so the
# password must be typed again: a forged host must not collect the real one.
_CREDENTIAL_BOUND = ("host", "port", "security", "username", "trusted_certificate")


def _cleaned(organisation_id: int, values: MailboxSettings, *, password_required: bool) -> dict:
    name = one_line(values.name or "", limit=100)
    if not name:
        raise InvalidImapSetting("Give the mailbox a name, e.g. security@ at our provider.", field="name")
    host = imap.host_clean(values.host)
    security = values.security
    imap.security_check(host=host, security=security)
    folder = imap.folder_clean(values.folder)
    processed = imap.folder_clean(values.processed_folder, field="processed_folder", required=False)
    if processed and imap.same_folder(folder, processed):
        raise InvalidImapSetting("The processed folder must differ from the folder to read.", field="processed_folder")
    port = imap.port_check(values.port)
    _destination_check(host=host, port=port, security=security)
    interval = values.poll_interval_seconds
    if not isinstance(interval, int) or not INTERVAL_MIN_SECONDS <= interval <= INTERVAL_MAX_SECONDS:
        raise InvalidImapSetting("Poll every 1 to 1440 minutes.", field="poll_interval_seconds")
    if values.import_since is not None and values.import_since > clock.now().date() + timedelta(days=1):
        raise InvalidImapSetting("The date cannot be in the future.", field="import_since")
    address, product = values.address, values.product
    if (address is None) == (product is None):
        raise InvalidImapSetting("Choose either the intake address the mail counts as sent to, or a product.",
                                 field="address")
    if address is not None and (address.organisation_id != organisation_id or not address.is_active):
        raise InvalidImapSetting("Choose one of this organisation's active intake addresses.", field="address")
    if product is not None and product.organisation_id != organisation_id:
        raise InvalidImapSetting("Choose one of this organisation's products.", field="product")
    cleaned = {
        "name": name, "host": host, "port": port, "security": security,
        "folder": folder, "processed_folder": processed,
        "trusted_certificate": imap.certificate_clean(values.trusted_certificate),
        "import_since": values.import_since, "poll_interval_seconds": interval,
        "address": address, "product": product,
        "username": imap.credential_clean(values.username, field="username", max_chars=254),
    }
    if values.password or password_required:
        cleaned["password"] = imap.credential_clean(values.password, field="password", max_chars=512)
    return cleaned


def _destination_check(*, host: str, port: int, security: str) -> None:
    """Refuse now a host that is or resolves to an internal address (the same check runs again
    at every connection, where it is the one that counts). A name that does not resolve from
    here right now is saved: the next poll says so, and a passing DNS failure must not block
    staff from correcting other settings."""
    try:
        imap.destination_check(host=host, port=port, security=security)
    except imap.ImapDestinationRefused as refusal:
        logger.warning("imap destination refused: %s", refusal.reason, extra={"security_event": "ssrf_refused"})
        raise
    except (OSError, UnicodeError):
        return
    except ImproperlyConfigured as error:
        logger.error("imap: %s", error)
        raise DomainError("This vulndesk installation's list of allowed internal networks is invalid: its "
                          "administrator must correct MAIL_INTAKE_IMAP_ALLOWED_NETWORKS.", field="host") from None


def imap_mailbox_add(*, actor: Membership, values: MailboxSettings) -> ImapMailbox:
    _check(actor, actor.organisation_id)
    cleaned = _cleaned(actor.organisation_id, values, password_required=True)
    now = clock.now()
    with transaction.atomic():
        mailbox = ImapMailbox(organisation_id=actor.organisation_id, credentials_nonce=secrets.token_hex(16),
                              created_at=now, updated_at=now)
        for name, value in cleaned.items():
            setattr(mailbox, name, value)  # username and password are sealed on save
        mailbox.save()
        _audit("mail.imap_add", actor=actor, mailbox=mailbox, security=mailbox.security,
               moves=mailbox.moves_mail)
    return mailbox


def imap_mailbox_update(*, actor: Membership, mailbox: ImapMailbox, values: MailboxSettings) -> ImapMailbox:
    _check(actor, mailbox.organisation_id)
    cleaned = _cleaned(mailbox.organisation_id, values, password_required=False)
    changed = sorted(name for name, value in cleaned.items() if name != "password" and getattr(mailbox, name) != value)
    if "password" not in cleaned and set(changed) & set(_CREDENTIAL_BOUND):
        raise InvalidImapSetting("Type the password again: the stored one is only ever sent to the server, account "
                                 "and certificate it was saved with.", field="password")
    with transaction.atomic():
        for name, value in cleaned.items():
            setattr(mailbox, name, value)
        mailbox.updated_at = clock.now()
        # A changed setting deserves a fresh try, not the back-off of the old one's failures.
        mailbox.consecutive_failures = 0
        # Only the settings (the sealed credentials are added by save()): a poll running now
        # keeps its lease and counters.
        mailbox.save(update_fields=[*(name for name in cleaned if name not in {"username", "password"}),
                                    "updated_at", "consecutive_failures"])
        _audit("mail.imap_change", actor=actor, mailbox=mailbox, fields=changed,
               password_replaced="password" in cleaned)
    return mailbox


@transaction.atomic
def imap_mailbox_set_enabled(*, actor: Membership, mailbox: ImapMailbox, enabled: bool) -> ImapMailbox:
    """Stop or resume polling. Kept when stopped: the mail it imported still points to it."""
    _check(actor, mailbox.organisation_id)
    if enabled and mailbox.address_id and not IntakeAddress.objects.filter(pk=mailbox.address_id,
                                                                           is_active=True).exists():
        raise DomainError("Its intake address no longer accepts mail: edit the mailbox and choose another first.")
    mailbox.is_enabled, mailbox.updated_at = enabled, clock.now()
    mailbox.consecutive_failures = 0
    mailbox.save(update_fields=["is_enabled", "updated_at", "consecutive_failures"])
    _audit("mail.imap_enable" if enabled else "mail.imap_disable", actor=actor, mailbox=mailbox)
    return mailbox


def imap_poll_request(*, actor: Membership, mailbox: ImapMailbox) -> None:
    """Staff's "poll now": queued (the worker polls; the page shows the result)."""
    _check(actor, mailbox.organisation_id)
    if not mailbox.is_enabled:
        raise DomainError("This mailbox is disabled: enable it first.")
    from vulndesk.mailintake.tasks import imap_poll_mailbox

    with transaction.atomic():
        _audit("mail.imap_poll_request", actor=actor, mailbox=mailbox)
    imap_poll_mailbox.enqueue(mailbox_id=mailbox.pk)


@dataclass(frozen=True)
class ConnectionCheck:
    waiting: int  # messages that the next poll would import
    moves_mail: bool


def imap_mailbox_check(*, actor: Membership, mailbox: ImapMailbox, timeout: float = 15.0) -> ConnectionCheck:
    """Connect, log in, open the folders and count what waits; changes nothing anywhere.
    Raises ``DomainError`` with the reason."""
    _check(actor, mailbox.organisation_id)
    try:
        with ImapSession(_target(mailbox, timeout=timeout), max_bytes=max_bytes()) as session:
            waiting = session.waiting_count(since=mailbox.import_since)
    except ImapProblem as problem:
        logger.info("imap mailbox %s: connection check failed (%s)", mailbox.pk, problem.kind)
        raise DomainError(problem.message) from None
    return ConnectionCheck(waiting=waiting, moves_mail=mailbox.moves_mail)


def _target(mailbox: ImapMailbox, *, timeout: float | None = None) -> ImapTarget:
    return ImapTarget(host=mailbox.host, port=mailbox.port, security=mailbox.security, username=mailbox.username,
                      password=mailbox.password, folder=mailbox.folder, processed_folder=mailbox.processed_folder,
                      trusted_certificate=mailbox.trusted_certificate,
                      timeout=timeout or _setting("IMAP_TIMEOUT", 60.0))


# --- the poll -----------------------------------------------------------------------------------------

@dataclass
class PollOutcome:
    mailbox_id: int
    state: str = "ok"  # ok | failed | busy | disabled | missing
    imported: int = 0  # stored now
    already_stored: int = 0  # fetched again after a poller died before marking them
    too_large: int = 0
    moved: int = 0
    error: str = ""
    message_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        if self.state != "ok":
            return f"{self.state}: {self.error}" if self.error else self.state
        return (f"imported {self.imported}, already stored {self.already_stored}, too large {self.too_large}"
                + (f", moved {self.moved} left over" if self.moved else ""))


def imap_mailbox_poll(*, mailbox_id: int, batch_size: int | None = None, limit: int | None = None) -> PollOutcome:
    """Import what is new in one mailbox (idempotent: safe to run any time, twice, or killed)."""
    outcome = PollOutcome(mailbox_id)
    token = _lease_acquire(mailbox_id)
    if token is None:
        exists = ImapMailbox.objects.filter(pk=mailbox_id).exists()
        outcome.state = "busy" if exists else "missing"
        return outcome
    try:
        mailbox = ImapMailbox.objects.select_related("address").filter(pk=mailbox_id).first()
        if mailbox is None or not mailbox.is_enabled:
            outcome.state = "disabled"
            return outcome
        try:
            _poll(mailbox, outcome, token, batch_size=batch_size or BATCH_SIZE, limit=limit or PER_POLL_LIMIT)
        except ImapProblem as problem:
            outcome.state, outcome.error = "failed", problem.message
            logger.warning("imap mailbox %s: poll failed at %s", mailbox_id, problem.kind)
        except Exception as error:
            # A bug or a database failure: recorded for staff in plain words; the log names the
            # class and place only (an exception's text may quote a message).
            frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
            logger.error("imap mailbox %s: poll failed (%s at %s:%s)", mailbox_id, type(error).__name__,
                         frame.filename.rsplit("/", 1)[-1] if frame else "?", frame.lineno if frame else "?")
            outcome.state = "failed"
            outcome.error = ("An internal error stopped the poll (see the server log). Mail not yet marked on the "
                             "server is fetched again at the next poll.")
        _record(mailbox_id, outcome)
        logger.info("imap mailbox %s: %s", mailbox_id, outcome.summary())
        return outcome
    finally:
        _lease_release(mailbox_id, token)


def _poll(mailbox: ImapMailbox, outcome: PollOutcome, token: str, *, batch_size: int, limit: int) -> None:
    with MailboxPoll.open(mailbox, outcome=outcome, batch_size=batch_size, limit=limit) as poll:
        poll.move_leftovers()
        for batch in poll.batches():
            fetched = poll.fetch(batch)
            poll.store(fetched)
            # Stored durably: only now may the server forget that these are new.
            poll.mark(fetched)
            _lease_renew(mailbox.pk, token)


@dataclass
class FetchedBatch:
    deliveries: list[Delivery] = field(default_factory=list)
    whole: list[str] = field(default_factory=list)  # uids fetched whole
    too_large: list[str] = field(default_factory=list)  # uids of which only the header was taken


class MailboxPoll:
    """The steps of one poll over one open session: fetch a batch, store it, mark it. Kept
    apart so that every point a crash can fall between is a named boundary (tests stop after
    ``store`` to play a poller that died before marking)."""

    def __init__(self, mailbox: ImapMailbox, session: ImapSession, *, outcome: PollOutcome | None = None,
                 batch_size: int = BATCH_SIZE, limit: int = PER_POLL_LIMIT, max_bytes: int):
        self.mailbox, self.session = mailbox, session
        self.outcome = outcome or PollOutcome(mailbox.pk)
        self.batch_size, self.limit, self.max_bytes = batch_size, limit, max_bytes
        self.default_route = _mailbox_route(mailbox)

    @classmethod
    @contextmanager
    def open(cls, mailbox: ImapMailbox, **options):
        _mailbox_route(mailbox)  # an address that no longer takes mail fails before connecting
        limit_bytes = max_bytes()
        with ImapSession(_target(mailbox), max_bytes=limit_bytes) as session:
            yield cls(mailbox, session, max_bytes=limit_bytes, **options)

    def move_leftovers(self) -> None:
        """What a dead poller marked but did not move yet, so the folder empties."""
        leftovers = self.session.imported_not_moved()
        self.session.move(leftovers)
        self.outcome.moved += len(leftovers)

    def batches(self):
        """Consecutive new messages, at most ``batch_size`` and about ``max_bytes`` together."""
        batch, total = [], 0
        for message in self.session.pending(since=self.mailbox.import_since, limit=self.limit):
            size = message.size if message.size <= self.max_bytes else imap.HEADER_MAX_BYTES
            if batch and (len(batch) >= self.batch_size or total + size > self.max_bytes):
                yield batch
                batch, total = [], 0
            batch.append(message)
            total += size
        if batch:
            yield batch

    def fetch(self, batch: list[imap.PendingMessage]) -> FetchedBatch:
        fetched = FetchedBatch()
        for message in batch:
            if message.size > self.max_bytes:
                header = self.session.fetch_header(message.uid)
                if header is not None:
                    reason = _too_large_reason(self.mailbox, message.size, self.max_bytes)
                    fetched.deliveries.append(_delivery(self.mailbox, header, self.default_route,
                                                        quarantine_reason=reason))
                    fetched.too_large.append(message.uid)
                continue
            raw = self.session.fetch(message.uid)
            if raw is not None:  # None: expunged by a person meanwhile, nothing to import
                fetched.deliveries.append(_delivery(self.mailbox, raw, self.default_route))
                fetched.whole.append(message.uid)
        return fetched

    def store(self, fetched: FetchedBatch) -> None:
        """One durable commit for the batch (or nothing of it)."""
        if not fetched.deliveries:
            return
        try:
            stored = inbound_store_deliveries(fetched.deliveries)
        except Exception as error:
            logger.error("imap mailbox %s: storing a batch failed (%s)", self.mailbox.pk, type(error).__name__)
            raise ImapProblem("Storing fetched mail failed; nothing was marked on the server, so it is fetched "
                              "again at the next poll.", kind="store") from None
        for delivery, rows in zip(fetched.deliveries, stored, strict=True):
            self.outcome.message_ids += [row.id for row in rows]
            if not any(row.created for row in rows):
                self.outcome.already_stored += 1
            elif delivery.quarantine_reason:
                self.outcome.too_large += 1
            else:
                self.outcome.imported += 1

    def mark(self, fetched: FetchedBatch) -> None:
        self.session.mark_imported(fetched.whole, too_large=fetched.too_large)


def _too_large_reason(mailbox: ImapMailbox, size: int, limit: int) -> str:
    megabytes = f"{size / (1024 * 1024):.1f} MB"
    return one_line(f"Larger than the {limit / (1024 * 1024):g} MB limit ({megabytes}): only its header was imported. "
                    f"The whole message stays in the folder \"{one_line(mailbox.folder, 40)}\" of the IMAP mailbox "
                    f"\"{one_line(mailbox.name, 40)}\", marked {imap.TOO_LARGE_KEYWORD}.", limit=300)


def _mailbox_route(mailbox: ImapMailbox) -> Route:
    if mailbox.address_id:
        address = mailbox.address
        if not address.is_active:
            raise ImapProblem("Its intake address no longer accepts mail: choose another address or product, or "
                              "disable this mailbox. Nothing was fetched.", kind="route")
        return Route(organisation_id=mailbox.organisation_id, address_id=address.pk, product_id=address.product_id)
    return Route(organisation_id=mailbox.organisation_id, address_id=None, product_id=mailbox.product_id)


def _delivery(mailbox: ImapMailbox, raw: bytes, default_route: Route, *, quarantine_reason: str = "") -> Delivery:
    """The message as SMTP would have handed it over: envelope sender from Return-Path (which
    the delivering MTA wrote), routed as SMTP routes the address it was delivered to when that
    is a report's reply address of this organisation, or a product sub-address of the mailbox's
    own intake address; else by the mailbox's own route. Another organisation's address, or
    another intake address of this one, is never followed: the mailbox decides where it files."""
    headers = _headers(raw)
    candidates = dict.fromkeys(address for name in RECIPIENT_HEADERS
                               for _, address in getaddresses([str(v) for v in headers.get_all(name, [])]) if address)
    route, recipient = default_route, ""
    for address in list(candidates)[:RECIPIENTS_LOOKED_AT]:  # bounded: each is a lookup
        found = route_for_recipient(address)
        if found is not None and found.organisation_id == mailbox.organisation_id and (
                found.reply_report_id is not None or found.address_id == mailbox.address_id):
            route, recipient = found, address
            break
    if not recipient:
        recipient = mailbox.address.address if mailbox.address_id else f"IMAP mailbox {mailbox.pk}"
    return Delivery(raw=raw, envelope_from=_envelope_from(headers), recipients=[recipient], routes=[route],
                    source="imap", imap_mailbox_id=mailbox.pk, quarantine_reason=quarantine_reason)


def _headers(raw: bytes):
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    block = raw[: end if 0 <= end < 256 * 1024 else min(len(raw), 256 * 1024)]
    return BytesHeaderParser(policy=compat32).parsebytes(block + b"\r\n\r\n")


def _envelope_from(headers) -> str:
    """The SMTP sender as the final MTA recorded it (Return-Path; "<>" for a bounce), else the
    From address (mail put in the folder by other means)."""
    return_path = headers.get("Return-Path")
    if return_path is not None:
        value = " ".join(str(return_path).split())
        if value.strip("<> ") == "":
            return "<>"
        return value.strip("<> ")[:254]
    addresses = getaddresses([str(value) for value in headers.get_all("From", [])])
    return addresses[0][1][:254] if addresses and addresses[0][1] else "<>"


def _record(mailbox_id: int, outcome: PollOutcome) -> None:
    now = clock.now()
    ok = outcome.state == "ok"
    values = {
        "last_poll_at": now, "last_result": ImapPollResult.OK if ok else ImapPollResult.FAILED,
        "last_error": outcome.error[:300], "last_imported": outcome.imported,
        "imported_total": F("imported_total") + outcome.imported,
        "too_large_total": F("too_large_total") + outcome.too_large,
        "consecutive_failures": 0 if ok else F("consecutive_failures") + 1,
    }
    if ok:
        values["last_success_at"] = now
    ImapMailbox.objects.filter(pk=mailbox_id).update(**values)


# --- scheduling and the lease -------------------------------------------------------------------------

def imap_mailboxes_due_ids(*, everything: bool = False) -> list[int]:
    """Enabled mailboxes whose interval has passed (``everything``: all enabled ones)."""
    now = clock.now()
    rows = ImapMailbox.objects.filter(is_enabled=True).order_by("id").values_list(
        "id", "last_poll_at", "poll_interval_seconds", "consecutive_failures")
    return [mailbox_id for mailbox_id, last, interval, failures in rows
            if everything or (due := imap.poll_due_at(last_poll_at=last, interval_seconds=interval,
                                                      consecutive_failures=failures)) is None or due <= now]


def _lease_token() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(8)}"


def _lease_acquire(mailbox_id: int) -> str | None:
    token, now = _lease_token(), clock.now()
    free = Q(lease_token="") | Q(lease_expires_at__lt=now)
    if ImapMailbox.objects.filter(pk=mailbox_id).filter(free).update(lease_token=token,
                                                                     lease_expires_at=now + LEASE):
        return token
    holder = ImapMailbox.objects.filter(pk=mailbox_id).values_list("lease_token", flat=True).first()
    if holder and _holder_is_dead(holder) and ImapMailbox.objects.filter(pk=mailbox_id, lease_token=holder).update(
            lease_token=token, lease_expires_at=now + LEASE):
        logger.warning("imap mailbox %s: took over the lease of a poller that died", mailbox_id)
        return token
    return None


def _holder_is_dead(holder: str) -> bool:
    """Only a process on this host can be checked; elsewhere the lease's expiry decides."""
    try:
        host, pid_text, _ = holder.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname()[:60] or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _lease_renew(mailbox_id: int, token: str) -> None:
    ImapMailbox.objects.filter(pk=mailbox_id, lease_token=token).update(lease_expires_at=clock.now() + LEASE)


def _lease_release(mailbox_id: int, token: str) -> None:
    ImapMailbox.objects.filter(pk=mailbox_id, lease_token=token).update(lease_token="", lease_expires_at=None)
