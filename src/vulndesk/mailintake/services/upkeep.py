"""Rate limits at SMTP time, the periodic sweep, and re-encryption on key rotation."""

import io
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from vulndesk.attachments import storage as chunked
from vulndesk.core import clock, crypto
from vulndesk.core.ratelimit import rate_limit_hit
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, InboundState
from vulndesk.mailintake.services.acknowledgements import acknowledgement_retry
from vulndesk.mailintake.services.inbound import inbound_process
from vulndesk.mailintake.services.outbound import outbound_pending_ids, staff_reply_send
from vulndesk.mailintake.storage import raw_aad, raw_chunks
from vulndesk.organisations import keys

logger = logging.getLogger(__name__)

# Security mailboxes are quiet: a person reporting writes a few mails an hour. (count, seconds)
DEFAULT_RATE_LIMITS = {"mail_sender": (20, 3600), "mail_ip": (60, 3600)}
STORED_GRACE = timedelta(seconds=60)  # a fresh message's own task runs first
PENDING_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class RateVerdict:
    allowed: bool
    scope: str = ""  # "mail_ip" or "mail_sender" when refused
    retry_after: int = 0


def mail_rate_check(*, peer_ip: str, sender: str) -> RateVerdict:
    """Count one message (MAIL FROM) from ``peer_ip`` and ``sender``; refuse over the limits
    (``MAIL_INTAKE_RATE_LIMITS``). Counters are shared by every server process (core.ratelimit).
    A trusted relay (``MAIL_INTAKE_TRUSTED_RELAYS``: the MTA in front of us) is counted per
    sender only; bounces (null sender) per address only."""
    limits = {**DEFAULT_RATE_LIMITS, **getattr(settings, "MAIL_INTAKE_RATE_LIMITS", {})}
    if peer_ip and peer_ip not in getattr(settings, "MAIL_INTAKE_TRUSTED_RELAYS", ()):
        verdict = rate_limit_hit(scope="mail_ip", ident=f"ip:{peer_ip}", limit=limits["mail_ip"][0],
                                 window=limits["mail_ip"][1])
        if not verdict.allowed:
            return RateVerdict(False, "mail_ip", verdict.retry_after)
    sender = sender.strip().strip("<>").casefold()
    if sender:
        verdict = rate_limit_hit(scope="mail_sender", ident=f"sender:{sender}", limit=limits["mail_sender"][0],
                                 window=limits["mail_sender"][1])
        if not verdict.allowed:
            return RateVerdict(False, "mail_sender", verdict.retry_after)
    return RateVerdict(True)


def inbound_pending_ids(*, older_than: timedelta = STORED_GRACE, limit: int = 500) -> list[int]:
    return list(InboundMessage.objects.filter(state=InboundState.STORED, received_at__lte=clock.now() - older_than)
                .order_by("received_at", "id").values_list("id", flat=True)[:limit])


@dataclass
class SweepResult:
    processed: int = 0
    acknowledgements_retried: int = 0
    replies_sent: int = 0


def mail_sweep(*, older_than: timedelta = STORED_GRACE) -> SweepResult:
    """Finish what a crash or a lost task left: stored messages not yet processed, failed
    acknowledgements (re-sent without the link), staff replies not yet mailed. Idempotent."""
    result = SweepResult()
    now = clock.now()
    for message_id in inbound_pending_ids(older_than=older_than):
        if inbound_process(message_id=message_id) not in {"done", "failed"}:
            result.processed += 1
    # Failed ones, and pending ones a crash left between filing and sending (older than a few
    # minutes, so a message being answered right now is not answered twice).
    failed = (InboundMessage.objects.filter(received_at__gte=now - timedelta(days=3))
              .filter(Q(acknowledgement=AcknowledgementState.FAILED)
                      | Q(acknowledgement=AcknowledgementState.PENDING, processed_at__lt=now - PENDING_GRACE))
              .values_list("id", flat=True)[:100])
    for inbound_id in failed:
        result.acknowledgements_retried += int(acknowledgement_retry(inbound_id=inbound_id))
    for message_id in outbound_pending_ids(now=now):
        result.replies_sent += int(staff_reply_send(message_id=message_id) == "sent")
    return result


def inbound_raw_reencrypt(organisation_id: int, current_version: int) -> int:
    """Key rotation hook: raw messages on an older data key are re-encrypted under the current
    one (same row binding). Files are written anew, swapped, then the old one is deleted."""
    count = 0
    key = keys.data_key(organisation_id, current_version)
    for row in InboundMessage.objects.filter(organisation_id=organisation_id).exclude(key_version=current_version):
        raw = b"".join(raw_chunks(organisation_id=organisation_id, key_version=row.key_version, nonce=row.raw_nonce,
                                  blob=row.raw_blob, storage_key=row.storage_key))
        aad = raw_aad(organisation_id, row.raw_nonce)
        old_storage_key = row.storage_key
        if old_storage_key:
            new_storage_key = chunked.new_storage_key()
            chunked.write_encrypted(storage_key=new_storage_key, source=io.BytesIO(raw), key=key, aad=aad)
            with transaction.atomic():
                InboundMessage.objects.filter(pk=row.pk).update(storage_key=new_storage_key, key_version=current_version)
            chunked.delete(old_storage_key)
        else:
            InboundMessage.objects.filter(pk=row.pk).update(raw_blob=crypto.encrypt(key, raw, aad),
                                                            key_version=current_version)
        count += 1
    return count
