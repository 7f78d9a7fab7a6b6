"""CVSS vectors to scores and severities (reports/severity.py), scored by the real cvss package."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vulndesk.core.errors import DomainError
from vulndesk.reports.severity import (
    SEVERITY_RANK,
    CvssScore,
    InvalidVector,
    Severity,
    cvss_score,
    severity_for_score,
)

# Scores as FIRST's calculators give them.
VECTORS = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", "9.8", Severity.CRITICAL),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N", "3.1", "8.1", Severity.HIGH),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "3.1", "6.1", Severity.MEDIUM),
    ("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "3.1", "1.8", Severity.LOW),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "3.1", "0.0", Severity.NONE),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", "9.3", Severity.CRITICAL),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:L/VA:N/SC:N/SI:N/SA:N", "4.0", "7.1", Severity.HIGH),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", "4.0", "5.3", Severity.MEDIUM),
    ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", "4.0", "1.0", Severity.LOW),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", "4.0", "0.0", Severity.NONE),
]


@pytest.mark.parametrize(("vector", "version", "score", "severity"), VECTORS, ids=[row[0] for row in VECTORS])
def test_a_valid_vector_is_scored_with_the_cvss_formulas(vector, version, score, severity):
    assert cvss_score(vector) == CvssScore(version=version, vector=vector, score=Decimal(score), severity=severity)


def test_the_critical_network_vector_scores_9_8():
    result = cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    assert (result.score, result.severity) == (Decimal("9.8"), Severity.CRITICAL)
    assert isinstance(result.score, Decimal)


def test_a_vector_is_normalised_to_the_canonical_metric_order():
    assert cvss_score("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N").vector == (
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    assert cvss_score("CVSS:4.0/VC:H/AV:N/AC:L/AT:N/PR:N/UI:N/VI:H/VA:H/SC:N/SI:N/SA:N").vector == (
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")


def test_surrounding_whitespace_is_ignored():
    result = cvss_score("  CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n")
    assert result.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert result.score == Decimal("9.8")


# --- the qualitative scale --------------------------------------------------------------------

@pytest.mark.parametrize(("score", "severity"), [
    ("0.0", Severity.NONE),
    ("0.1", Severity.LOW),
    ("3.9", Severity.LOW),
    ("4.0", Severity.MEDIUM),
    ("6.9", Severity.MEDIUM),
    ("7.0", Severity.HIGH),
    ("8.9", Severity.HIGH),
    ("9.0", Severity.CRITICAL),
    ("10.0", Severity.CRITICAL),
])
def test_the_severity_boundaries_follow_the_cvss_qualitative_scale(score, severity):
    assert severity_for_score(Decimal(score)) == severity


def test_severities_rank_from_none_to_critical():
    assert sorted(Severity, key=SEVERITY_RANK.__getitem__) == [
        Severity.NONE, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


# --- refused vectors --------------------------------------------------------------------------

@pytest.mark.parametrize("vector", ["", "   ", None])
def test_an_empty_vector_is_refused_with_an_example(vector):
    with pytest.raises(InvalidVector) as raised:
        cvss_score(vector)
    assert raised.value.message.startswith("Enter a CVSS vector, e.g. CVSS:3.1/")
    assert raised.value.field == "cvss_vector"


def test_an_oversized_vector_is_refused_before_parsing():
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" + "/E:X" * 100
    with pytest.raises(InvalidVector, match="at most 300 characters"):
        cvss_score(vector)


@pytest.mark.parametrize("vector", [
    "AV:N/AC:L/Au:N/C:C/I:C/A:C",  # CVSS 2 has no prefix
    "CVSS:2.0/AV:N/AC:L/Au:N/C:C/I:C/A:C",
    "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "9.8",
    "critical",
    "<script>alert(1)</script>",
    "CVSS:3.1",
])
def test_a_vector_that_is_not_cvss_3_1_or_4_0_is_refused_naming_the_accepted_prefixes(vector):
    with pytest.raises(InvalidVector) as raised:
        cvss_score(vector)
    assert raised.value.message == "A CVSS vector starts with CVSS:3.1/ or CVSS:4.0/."


@pytest.mark.parametrize(("vector", "reason"), [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", 'Missing mandatory metrics "A"'),
    ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 'Unknown value "X" in field "AV:X"'),
    ("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 'Duplicate metric "AV"'),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", 'trailing "/"'),
    ("CVSS:3.1/", ""),
    ("CVSS:4.0/AV:N", 'Missing mandatory metrics "AC, AT, PR, UI, VC, VI, VA, SC, SI, SA"'),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/ZZ:Q", ""),
])
def test_a_malformed_vector_is_refused_with_the_parser_reason(vector, reason):
    with pytest.raises(InvalidVector) as raised:
        cvss_score(vector)
    assert raised.value.message.startswith("The CVSS vector is not valid: ")
    assert reason in raised.value.message
    assert raised.value.field == "cvss_vector"


def test_invalid_vector_is_a_domain_error_answered_with_400():
    assert issubclass(InvalidVector, DomainError)
    assert InvalidVector.status_code == 400
    assert InvalidVector.code == "invalid_cvss_vector"


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["CVSS:3.1/", "CVSS:4.0/", ""]),
    body=st.text(alphabet=st.sampled_from(list("AVCLNHPRUISTXEMQ:/ 0123456789.")) | st.characters(), max_size=120),
)
def test_any_text_either_scores_or_raises_invalid_vector(prefix, body):
    try:
        result = cvss_score(prefix + body)
    except InvalidVector as error:
        assert error.message
    else:
        assert Decimal("0") <= result.score <= Decimal("10")
        assert result.severity == severity_for_score(result.score)
