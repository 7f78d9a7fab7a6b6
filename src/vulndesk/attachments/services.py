"""Writes for attachments: validate by content, re-encode images, encrypt, store, record.

Callers pass the acting Membership, or ``from_reporter=True`` for the tracking link's holder.
The same rules hold for the web form, staff uploads and (later) e-mail intake.
"""

import hashlib
import logging
import tempfile

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from vulndesk.attachments import storage
from vulndesk.attachments.inspection import UploadRefused, image_reencoded, inspect_upload, safe_filename
from vulndesk.attachments.models import Attachment
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.organisations import keys
from vulndesk.organisations.models import READ_ROLES, Membership
from vulndesk.reports.models import Report

logger = logging.getLogger(__name__)


def attachment_aad(attachment_storage_key: str, organisation_id: int) -> str:
    return f"attachment:{organisation_id}:{attachment_storage_key}"


def _name_aad(organisation_id: int, storage_key: str) -> str:
    return f"attachment-name:{organisation_id}:{storage_key}"


def attachment_name(attachment: Attachment) -> str:
    return keys.unseal(organisation_id=attachment.organisation_id,
                       aad=_name_aad(attachment.organisation_id, attachment.storage_key),
                       text=attachment.sealed_name).decode()


def attachment_add(*, report: Report, upload, actor: Membership | None = None, from_reporter: bool = False) -> Attachment:
    """``upload`` is a Django UploadedFile (in memory or spooled to a temp file by Django)."""
    if actor is not None:
        if actor.organisation_id != report.organisation_id:
            raise NotFound
        if actor.role not in READ_ROLES - {"viewer"}:
            raise NotAllowed
    elif not from_reporter:
        raise NotAllowed
    size = upload.size
    used = Attachment.objects.filter(report=report).aggregate(total=Sum("size"))["total"] or 0
    if used + size > settings.ATTACHMENT_REPORT_MAX_BYTES:
        raise DomainError(f"A report holds at most {settings.ATTACHMENT_REPORT_MAX_BYTES // (1024 * 1024)} MB of "
                          "attachments.", field="attachments")
    handle = upload.file if hasattr(upload, "file") else upload
    try:
        inspection = inspect_upload(handle, size)
        reencoded = image_reencoded(handle, inspection.kind)
    except UploadRefused as refusal:
        raise DomainError(f"{safe_filename(upload.name)}: {refusal}", field="attachments") from None
    source = reencoded if reencoded is not None else handle
    source.seek(0)
    digest, stored_size = hashlib.sha256(), 0
    while chunk := source.read(storage.CHUNK):
        digest.update(chunk)
        stored_size += len(chunk)
    storage_key = storage.new_storage_key()
    version = keys.current_key_version(report.organisation_id)
    storage.write_encrypted(storage_key=storage_key, source=source,
                            key=keys.data_key(report.organisation_id, version),
                            aad=attachment_aad(storage_key, report.organisation_id))
    try:
        with transaction.atomic():
            attachment = Attachment.objects.create(
                organisation_id=report.organisation_id, report=report, storage_key=storage_key, key_version=version,
                sealed_name=keys.seal(organisation_id=report.organisation_id,
                                      aad=_name_aad(report.organisation_id, storage_key),
                                      plaintext=safe_filename(upload.name).encode()),
                kind=inspection.kind, content_type=inspection.content_type, size=stored_size,
                sha256=digest.hexdigest(), is_from_reporter=from_reporter,
                uploaded_by_id=actor.user_id if actor else None, created_at=clock.now(),
            )
            audit_record(action="attachment.add", organisation_id=report.organisation_id,
                         actor_id=actor.user_id if actor else None, actor_label="reporter" if from_reporter else "",
                         target_type="report", target_id=report.pk,
                         data={"attachment": attachment.pk, "kind": inspection.kind, "size": stored_size})
    except Exception:
        storage.delete(storage_key)  # no orphan file when the row could not be written
        raise
    logger.info("attachment %s stored for report %s (%s, %s bytes)", attachment.pk, report.pk, inspection.kind,
                stored_size)
    return attachment


def attachment_chunks(attachment: Attachment):
    """The decrypted content, chunk by chunk (for a streaming response)."""
    return storage.read_decrypted(
        storage_key=attachment.storage_key, key=keys.data_key(attachment.organisation_id, attachment.key_version),
        aad=attachment_aad(attachment.storage_key, attachment.organisation_id),
    )


def attachment_download_record(*, attachment: Attachment, actor: Membership | None, ip_address: str | None) -> None:
    audit_record(action="attachment.download", organisation_id=attachment.organisation_id,
                 actor_id=actor.user_id if actor else None, actor_label="" if actor else "reporter",
                 target_type="report", target_id=attachment.report_id, ip_address=ip_address,
                 data={"attachment": attachment.pk})


def attachments_reencrypt(organisation_id: int, current_version: int) -> int:
    """Key rotation hook: re-encrypt each file still on an older data key into a new file, swap
    the row to it, then delete the old file. Downloads keep working throughout."""
    count = 0
    for attachment in Attachment.objects.filter(organisation_id=organisation_id).exclude(key_version=current_version):
        name = attachment_name(attachment)
        new_key = storage.new_storage_key()
        with tempfile.SpooledTemporaryFile(max_size=storage.CHUNK * 4) as plain:
            for chunk in attachment_chunks(attachment):
                plain.write(chunk)
            storage.write_encrypted(storage_key=new_key, source=plain,
                                    key=keys.data_key(organisation_id, current_version),
                                    aad=attachment_aad(new_key, organisation_id))
        old_key = attachment.storage_key
        with transaction.atomic():
            Attachment.objects.filter(pk=attachment.pk).update(
                storage_key=new_key, key_version=current_version,
                sealed_name=keys.seal(organisation_id=organisation_id, aad=_name_aad(organisation_id, new_key),
                                      plaintext=name.encode()),
            )
        storage.delete(old_key)
        count += 1
    return count
