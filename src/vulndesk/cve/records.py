"""The CNA container of a CVE record (CVE JSON 5.1) for an advisory, and its schema check.

The container is built by the ``exports`` app's CVE builder (``exports.cve.cve_cna_container``)
from the advisory's *published* edition (``exports.content.published_content``: the frozen OSV
document of the latest revision), so there is one CVE document in vulndesk, the one staff can
also download, and unpublished edits never reach CVE Services: a CVE record is public the moment
it is sent. Callers check that the advisory is public first.

That builder always lists the public advisory page among the references (the schema needs at
least one) and writes ``x_generator`` (``vulndesk <version>``). cvelib adds its own generator
only when the field is absent or the process-wide ``CVE_GENERATOR`` variable says so; with the
field set we never touch the environment of a threaded server.
"""

from cvelib.cve_api import CveRecord, CveRecordValidationError

from vulndesk.advisories.models import Advisory
from vulndesk.core.errors import DomainError
from vulndesk.exports.content import published_content
from vulndesk.exports.cve import cve_cna_container


class CveRecordIncomplete(DomainError):
    code = "cve_record_incomplete"


class CveRecordInvalid(DomainError):
    code = "cve_record_invalid"


def cna_container(*, advisory: Advisory, organisation_uuid: str) -> dict:
    """The CNA container of the advisory's latest published revision."""
    content = published_content(advisory)
    if not content.packages:
        raise CveRecordIncomplete("The published advisory lists no affected package; a CVE record needs at least "
                                  "one. Add it and publish a new revision first.", field="affected")
    return cve_cna_container(content, org_id=organisation_uuid)


def container_check(container: dict) -> None:
    """Validate against cvelib's CNA published-container schema (CVE JSON 5.1), as CVE Services
    will; the error lists the first problems with their place in the record."""
    try:
        CveRecord.validate(container, CveRecord.Schemas.CNA_PUBLISHED)
    except CveRecordValidationError as error:
        problems = sorted({_schema_problem(e) for e in error.errors or []})[:5]
        raise CveRecordInvalid("The CVE record does not pass the CVE JSON 5.1 schema: " + "; ".join(problems),
                               field="record") from None


def _schema_problem(error) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "(record)"
    return f"{where}: {error.message[:160]}"


# The CVE JSON 5 description values allow 4,096 characters.
REJECTED_REASON_MAX_CHARS = 4000


def rejected_container(*, advisory: Advisory, organisation_uuid: str, reason: str) -> dict:
    """The CNA container that rejects the advisory's CVE ID. The reason is the published
    withdrawal reason, so nothing unpublished leaves with it."""
    text = " ".join(reason.split())
    value = f"This CVE ID is rejected: {advisory.identifier}, the advisory it was assigned for, was withdrawn"
    value += f" ({text})." if text else "."
    if len(value) > REJECTED_REASON_MAX_CHARS:
        value = value[: REJECTED_REASON_MAX_CHARS - 2] + "…)"
    container = {"providerMetadata": {"orgId": organisation_uuid}, "rejectedReasons": [{"lang": "en", "value": value}]}
    try:
        CveRecord.validate(container, CveRecord.Schemas.CNA_REJECTED)
    except CveRecordValidationError as error:
        problems = sorted({_schema_problem(e) for e in error.errors or []})[:5]
        raise CveRecordInvalid("The rejection does not pass the CVE JSON 5.1 schema: " + "; ".join(problems),
                               field="record") from None
    return container
