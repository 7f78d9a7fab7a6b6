"""Schema validation of exported documents against the official JSON schemas.

Schemas come from ``settings.VULNDESK_SCHEMA_DIR`` (a directory laid out like the project's
``shared/schemas``: ``osv/unreleased-*/schema.json``, ``csaf/csaf_json_schema.json`` and
``cvss/cvss-v2.0.json``, ``cvss-v3.0.json``, ``cvss-v3.1.json``). Default ``None``: only the CVE
schema is available, from the ``cvelib`` package (CVE Record Format 5.1.1). A format whose
schema is missing is reported as unavailable, never as valid.

- OSV: the *unreleased* schema (after 1.7.5), the first to accept the ``x_`` prefix of a
  database that is not a registered OSV home database.
- CSAF 2.0 refers to FIRST's CVSS schemas by URL without the ``?date`` suffix of their ``$id``
  (and the draft-04 files have no ``$id``); each one is registered in a ``referencing``
  registry under the exact URL the ``$ref`` uses. Nothing is ever fetched.
- CVE: ``cvelib``'s ``CveRecord.validate(obj, schema_path=CveRecord.Schemas.CNA_PUBLISHED)``,
  the check ``CveApi.publish`` applies, plus a format-checking pass over the same schema.

Format assertions are on (``date-time``, ``uri``...): they need ``rfc3339-validator`` and
``rfc3986-validator``, without which jsonschema silently passes those formats.
"""

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from cvelib.cve_api import CveRecord, CveRecordValidationError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT7

from vulndesk.core.errors import DomainError

OSV, CSAF, CVE = "osv", "csaf", "cve"
MAX_MESSAGES = 10
MAX_MESSAGE_CHARS = 300
CVSS_REFS = {  # the $ref URL in CSAF 2.0 -> (file under cvss/, its dialect)
    "https://www.first.org/cvss/cvss-v2.0.json": ("cvss-v2.0.json", DRAFT4),
    "https://www.first.org/cvss/cvss-v3.0.json": ("cvss-v3.0.json", DRAFT4),
    "https://www.first.org/cvss/cvss-v3.1.json": ("cvss-v3.1.json", DRAFT7),
}
# cvelib fills providerMetadata in at publish time (GET org/<short_name>); a document without
# it is checked as if it were there.
PLACEHOLDER_ORG_ID = "00000000-0000-4000-8000-000000000000"


class ExportInvalid(DomainError):
    """Documents failed their schemas: they are neither published nor served. ``failures``
    lists (format label, the validator's messages)."""

    status_code = 422
    code = "export_invalid"

    def __init__(self, failures: list[tuple[str, list[str]]], *, prefix: str = ""):
        self.failures = failures
        text = " ".join(f"The {label} document does not pass its schema: {'; '.join(messages)}."
                        for label, messages in failures)
        super().__init__(f"{prefix}{text}", field="export")

    @property
    def messages(self) -> list[str]:
        return [message for _, messages in self.failures for message in messages]


@dataclass(frozen=True)
class SchemaCheck:
    schema: str  # OSV, CSAF or CVE
    is_available: bool
    messages: list[str] = field(default_factory=list)
    source: str = ""  # which schema file was used, or why none

    @property
    def is_valid(self) -> bool:
        return self.is_available and not self.messages


def schema_dir() -> Path | None:
    configured = getattr(settings, "VULNDESK_SCHEMA_DIR", None)
    if not configured:
        return None
    path = Path(configured)
    if not path.is_dir():
        raise ImproperlyConfigured(f"VULNDESK_SCHEMA_DIR={configured!s} is not a directory.")
    return path.resolve()


def check_document(schema: str, document: dict) -> SchemaCheck:
    """Validate ``document`` against ``schema`` (OSV, CSAF or CVE); never raises for an
    invalid document, only reports."""
    if schema == CVE:
        return _check_cve(document)
    found = _validator(schema, str(schema_dir()) if schema_dir() else "")
    if found is None:
        return SchemaCheck(schema, False, source=_missing(schema))
    validator, source = found
    return SchemaCheck(schema, True, _messages(validator.iter_errors(document)), source)


def require_valid(schema: str, document: dict, *, label: str) -> SchemaCheck:
    """Validate and raise ``ExportInvalid`` with the validator's messages when it fails. A
    format whose schema is unavailable passes unchecked (the result says so)."""
    result = check_document(schema, document)
    if result.is_available and result.messages:
        raise ExportInvalid([(label, result.messages)])
    return result


def _messages(errors) -> list[str]:
    def flatten(error: ValidationError) -> ValidationError:
        # oneOf/anyOf failures say only "is not valid under any of the given schemas". The
        # branch that came closest (fewest errors) and, in it, the error furthest into the
        # instance name what is actually wrong: for an OSV event {"fixed": "abc"} the pattern
        # of "fixed", not the missing "introduced" of another branch; for a CVSS 3.1 object the
        # 3.1 schema's complaint, not the 3.0 schema's.
        if not error.context:
            return error
        branches: dict = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)
        fewest = min(map(len, branches.values()))
        closest = [sub for errors in branches.values() if len(errors) == fewest for sub in errors]
        return flatten(max(closest, key=lambda e: (len(e.absolute_path), e.validator != "required")))

    chosen = sorted((flatten(e) for e in errors), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    messages = []
    for error in chosen[:MAX_MESSAGES]:
        if error.validator == "pattern":
            text = f"{error.instance!r} does not match the required pattern"
        else:
            text = error.message
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[: MAX_MESSAGE_CHARS - 1] + "…"
        messages.append(f"{error.json_path}: {text}")
    if len(chosen) > MAX_MESSAGES:
        messages.append(f"… and {len(chosen) - MAX_MESSAGES} more")
    return messages


def _osv_schema_file(root: Path) -> Path | None:
    candidates = sorted(root.glob("osv/unreleased-*/schema.json"))
    return candidates[-1] if candidates else None


def _missing(schema: str) -> str:
    root = schema_dir()
    if root is None:
        return "VULNDESK_SCHEMA_DIR is not set"
    wanted = {OSV: "osv/unreleased-*/schema.json",
              CSAF: "csaf/csaf_json_schema.json with cvss/cvss-v2.0.json, cvss-v3.0.json, cvss-v3.1.json"}[schema]
    return f"{root} has no {wanted}"


@cache
def _validator(schema: str, root_text: str):
    """(validator, source) or None. Built once per schema and directory: the schemas are big."""
    if not root_text:
        return None
    root = Path(root_text)
    if schema == OSV:
        path = _osv_schema_file(root)
        if path is None:
            return None
        return Draft202012Validator(_load(path), format_checker=Draft202012Validator.FORMAT_CHECKER), str(path)
    if schema == CSAF:
        path = root / "csaf" / "csaf_json_schema.json"
        cvss = {url: (root / "cvss" / name, dialect) for url, (name, dialect) in CVSS_REFS.items()}
        if not path.is_file() or not all(file.is_file() for file, _ in cvss.values()):
            return None
        registry = Registry().with_resources(
            [(url, dialect.create_resource(_load(file))) for url, (file, dialect) in cvss.items()])
        validator = Draft202012Validator(_load(path), registry=registry,
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        return validator, str(path)
    raise ValueError(f"unknown schema {schema!r}")


@cache
def _cve_format_validator() -> Draft7Validator:
    return Draft7Validator(_load(Path(CveRecord.Schemas.CNA_PUBLISHED)), format_checker=Draft7Validator.FORMAT_CHECKER)


def _check_cve(document: dict) -> SchemaCheck:
    candidate = document if "providerMetadata" in document else {
        **document, "providerMetadata": {"orgId": PLACEHOLDER_ORG_ID}}
    errors: list[ValidationError] = []
    try:
        CveRecord.validate(candidate, schema_path=CveRecord.Schemas.CNA_PUBLISHED)
    except CveRecordValidationError as error:
        errors += list(error.errors or [])
    errors += [e for e in _cve_format_validator().iter_errors(candidate) if e.validator == "format"]
    return SchemaCheck(CVE, True, _messages(errors), str(CveRecord.Schemas.CNA_PUBLISHED))


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
