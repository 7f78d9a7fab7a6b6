"""The export formats: how each is built, which schema checks it, what its file is called.

``osv``: the OSV document (``osv.py``); ``csaf``: CSAF 2.0 ``csaf_security_advisory``;
``vex``: CSAF 2.0 ``csaf_vex``; ``cve``: the CVE JSON 5.1 CNA container (``cve.py``). The key is
the URL's ``<format>``: stored in audit entries, so it never changes.
"""

from collections.abc import Callable
from dataclasses import dataclass

from vulndesk.advisories.models import Advisory
from vulndesk.exports import validation
from vulndesk.exports.content import DRAFT, advisory_content
from vulndesk.exports.csaf import csaf_filename, csaf_security_advisory, csaf_vex
from vulndesk.exports.cve import cve_cna_container
from vulndesk.exports.osv import osv_export


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    schema: str  # validation.OSV / CSAF / CVE
    build: Callable[[Advisory, str], dict]
    filename: Callable[[Advisory, dict], str]


def _csaf_name(advisory: Advisory, document: dict) -> str:
    return csaf_filename(document["document"]["tracking"]["id"])


FORMATS: dict[str, ExportFormat] = {
    "osv": ExportFormat("osv", "OSV", validation.OSV, lambda a, e: osv_export(a, edition=e),
                        lambda a, d: f"{d['id']}.json"),
    "csaf": ExportFormat("csaf", "CSAF 2.0 advisory", validation.CSAF,
                         lambda a, e: csaf_security_advisory(advisory_content(a, edition=e)), _csaf_name),
    "vex": ExportFormat("vex", "CSAF 2.0 VEX", validation.CSAF,
                        lambda a, e: csaf_vex(advisory_content(a, edition=e)), _csaf_name),
    "cve": ExportFormat("cve", "CVE JSON 5.1 (CNA container)", validation.CVE,
                        lambda a, e: cve_cna_container(advisory_content(a, edition=e)),
                        lambda a, d: f"{a.cve_id or a.identifier}.cve.json"),
}


def export_filename(export_format: ExportFormat, advisory: Advisory, document: dict, edition: str) -> str:
    name = export_format.filename(advisory, document)
    if edition == DRAFT:
        stem, _, suffix = name.partition(".")
        name = f"{stem}.draft.{suffix}"
    return name

