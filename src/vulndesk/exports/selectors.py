"""Reads for exports: the advisory (scoped by the acting member's organisation, through
``advisories.selectors``) and the validation panel, which builds every format of each edition
staff can download and reports its schema result. The panel serves no document."""

from dataclasses import dataclass

from vulndesk.advisories.models import Advisory
from vulndesk.advisories.selectors import advisory_for_member
from vulndesk.core.errors import NotFound
from vulndesk.exports.content import DRAFT, PUBLISHED, has_pending_edits
from vulndesk.exports.formats import FORMATS, ExportFormat, export_filename
from vulndesk.exports.validation import SchemaCheck, check_document
from vulndesk.organisations.models import Membership


@dataclass(frozen=True)
class PanelRow:
    export_format: ExportFormat
    edition: str
    check: SchemaCheck
    filename: str


def advisory_for_export(*, member: Membership, identifier: str) -> Advisory:
    return advisory_for_member(member=member, identifier=identifier)


def editions_for(advisory: Advisory) -> list[str]:
    """Published (when public) and the draft (when never published, or edited since)."""
    editions = [PUBLISHED] if advisory.is_public else []
    if not advisory.is_public or has_pending_edits(advisory):
        editions.append(DRAFT)
    return editions


def export_panel(*, member: Membership, advisory: Advisory) -> list[PanelRow]:
    if advisory.organisation_id != member.organisation_id:
        raise NotFound
    rows = []
    for edition in editions_for(advisory):
        for export_format in FORMATS.values():
            document = export_format.build(advisory, edition)
            rows.append(PanelRow(export_format, edition, check_document(export_format.schema, document),
                                 export_filename(export_format, advisory, document, edition)))
    return rows
