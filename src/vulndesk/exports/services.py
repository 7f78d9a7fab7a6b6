"""Exports: building, validating and handing out an advisory's documents, and refusing a
publish whose documents fail their schemas.

Invariant: a document that fails its schema is never served (``advisory_export`` raises
``ExportInvalid`` before anything is returned) and never published (``exports_check_publish``
runs inside the publishing transaction as an ``advisories.hooks`` hook and raises, which rolls
the publish back). Every download is audited as ``advisory.export``. Callers pass the acting
Membership from ``organisations.access``; the advisory comes from a member-scoped selector.
"""

import json
from dataclasses import dataclass

from django.db import transaction

from vulndesk.advisories.models import Advisory
from vulndesk.audit.services import audit_record
from vulndesk.core.errors import NotAllowed, NotFound
from vulndesk.exports.content import PUBLISHED, default_edition
from vulndesk.exports.formats import FORMATS, export_filename
from vulndesk.exports.validation import ExportInvalid, check_document, require_valid
from vulndesk.organisations.models import READ_ROLES, Membership


@dataclass(frozen=True)
class Export:
    document: dict
    filename: str
    edition: str
    is_schema_checked: bool

    @property
    def body(self) -> bytes:
        return json.dumps(self.document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


@transaction.atomic
def advisory_export(*, advisory: Advisory, actor: Membership, format: str, edition: str | None = None) -> Export:
    if actor.organisation_id != advisory.organisation_id:
        raise NotFound
    if actor.role not in READ_ROLES:
        raise NotAllowed
    export_format = FORMATS.get(format)
    if export_format is None:
        raise NotFound(f"No export format {format!r}; use one of {', '.join(FORMATS)}.")
    edition = edition or default_edition(advisory)
    document = export_format.build(advisory, edition)
    result = require_valid(export_format.schema, document, label=export_format.label)
    audit_record(action="advisory.export", organisation_id=advisory.organisation_id, actor_id=actor.user_id,
                 actor_label=actor.user.display_name, target_type="advisory", target_id=advisory.pk,
                 data={"format": export_format.key, "edition": edition, "schema_checked": result.is_available})
    return Export(document, export_filename(export_format, advisory, document, edition), edition,
                  result.is_available)


def exports_check_publish(advisory: Advisory, revision=None) -> None:
    """Publish (and withdraw) hook: build every format of the edition being made public and
    refuse when one whose schema is available fails it. Runs inside the transaction, after
    the public face was set, so it checks exactly what would be served."""
    failures = []
    for export_format in FORMATS.values():
        result = check_document(export_format.schema, export_format.build(advisory, PUBLISHED))
        if result.is_available and result.messages:
            failures.append((export_format.label, result.messages))
    if failures:
        raise ExportInvalid(failures, prefix=f"{advisory.identifier} was not published. ")
