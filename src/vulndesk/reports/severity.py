"""CVSS vectors to scores and severities, through the ``cvss`` package (FIRST's formulas).

Pure; raises ``InvalidVector`` with a message a person can act on.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from cvss import CVSS3, CVSS4, CVSSError
from django.db import models

from vulndesk.core.errors import DomainError


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    NONE = "none", "None"


SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.NONE: 0}


class InvalidVector(DomainError):
    code = "invalid_cvss_vector"


@dataclass(frozen=True)
class CvssScore:
    version: str  # "3.1" or "4.0"
    vector: str  # normalised
    score: Decimal
    severity: Severity


def severity_for_score(score: Decimal) -> Severity:
    """The CVSS qualitative scale (identical in 3.1 and 4.0)."""
    if score >= Decimal("9.0"):
        return Severity.CRITICAL
    if score >= Decimal("7.0"):
        return Severity.HIGH
    if score >= Decimal("4.0"):
        return Severity.MEDIUM
    if score > 0:
        return Severity.LOW
    return Severity.NONE


@lru_cache(maxsize=4096)  # pure; scanners send the same few vectors again and again
def cvss_score(vector: str) -> CvssScore:
    vector = (vector or "").strip()
    if not vector:
        raise InvalidVector("Enter a CVSS vector, e.g. CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H.", field="cvss_vector")
    if len(vector) > 300:
        raise InvalidVector("A CVSS vector is at most 300 characters.", field="cvss_vector")
    try:
        if vector.startswith("CVSS:4.0/"):
            parsed4 = CVSS4(vector)
            score = Decimal(str(parsed4.base_score))
            return CvssScore("4.0", parsed4.clean_vector(), score, severity_for_score(score))
        if vector.startswith("CVSS:3.1/"):
            parsed3 = CVSS3(vector)
            score = Decimal(str(parsed3.base_score))
            return CvssScore("3.1", parsed3.clean_vector(), score, severity_for_score(score))
    except CVSSError as error:
        raise InvalidVector(f"The CVSS vector is not valid: {error}", field="cvss_vector") from None
    raise InvalidVector("A CVSS vector starts with CVSS:3.1/ or CVSS:4.0/.", field="cvss_vector")
