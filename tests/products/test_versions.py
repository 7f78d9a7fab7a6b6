"""The supported-versions range test (products/versions.py): pure, no database."""

import pytest

from vulndesk.products.versions import InvalidRange, validate_range, version_in_range


@pytest.mark.parametrize(("version", "range_text", "expected"), [
    ("2.0", "2.x", True),
    ("2.1.3", "2.x", True),
    ("2", "2.x", True),
    ("3.0", "2.x", False),
    ("1.9.9", "2.x", False),
    ("2.0", "2.X", True),
    ("2.1.3", "2.*", True),
    ("2.1.3", "2", True),
    ("3.1", "2", False),
    ("1.4.7", "1.4.x", True),
    ("1.4", "1.4.x", True),
    ("1.5.0", "1.4.x", False),
])
def test_a_release_line_contains_every_version_of_that_line(version, range_text, expected):
    assert version_in_range(version, range_text) is expected


@pytest.mark.parametrize("version", ["20.1", "12.0", "2024.1"])
def test_a_release_line_is_not_a_plain_text_prefix(version):
    assert version_in_range(version, "2.x") is False


@pytest.mark.parametrize(("version", "range_text", "expected"), [
    ("2.0", ">=2.0,<3.0", True),
    ("2.9.17", ">=2.0,<3.0", True),
    ("3.0", ">=2.0,<3.0", False),
    ("1.9", ">=2.0,<3.0", False),
    ("2.1", ">= 2.0, < 3.0", True),
    ("1.3.9", "<1.4", True),
    ("1.4.0", "<1.4", False),
    ("2.1.3", "~=2.1", True),
    ("3.0", "~=2.1", False),
    ("2.1.3", "!=2.1.3", False),
    ("1.4.2", "==1.4.2", True),
])
def test_pep_440_specifiers_are_honoured(version, range_text, expected):
    assert version_in_range(version, range_text) is expected


@pytest.mark.parametrize(("version", "range_text", "expected"), [
    ("1.4.2", "1.4.2", True),
    ("1.4.20", "1.4.2", False),
    ("1.4.1", "1.4.2", False),
    ("1.4.2", " 1.4.2 ", True),
    (" 1.4.2", "1.4.2", True),
    ("1.0", "1.0.0", True),  # PEP 440: 1.0 and 1.0.0 are the same release
    ("2024.05-lts", "2024.05-lts", True),
    ("2024.05-lts", "2024.06-lts", False),
])
def test_an_exact_version_matches_only_itself(version, range_text, expected):
    assert version_in_range(version, range_text) is expected


@pytest.mark.parametrize(("version", "range_text"), [
    ("v1.4.2", "1.4.2"),
    ("1.4.2", "v1.4.2"),
    ("V1.4.2", "1.4.2"),
    ("1.4.2", "V1.4.2"),
    ("V1.4.2", "V1.4.2"),
    ("v2.1", "2.x"),
    ("V2.1", "2.x"),
    ("2.1", "v2.x"),
    ("v2.1", ">=2.0,<3.0"),
])
def test_a_v_prefix_is_ignored_on_either_side(version, range_text):
    assert version_in_range(version, range_text) is True


@pytest.mark.parametrize(("version", "range_text", "expected"), [
    ("2.0rc1", "2.x", True),
    ("2.1.0b2", "2.x", True),
    ("3.0.0rc1", "2.x", False),
    ("2.1.0-beta.1", ">=2.0,<3.0", True),
    ("2.5.0a1", ">=2.0,<3.0", True),
    # PEP 440: a pre-release of 3.0 is not below 3.0's exclusive bound, and 2.0rc1 is before 2.0.
    ("3.0.0rc1", ">=2.0,<3.0", False),
    ("2.0.0rc1", ">=2.0,<3.0", False),
])
def test_prereleases_are_placed_by_pep_440_ordering(version, range_text, expected):
    assert version_in_range(version, range_text) is expected


@pytest.mark.parametrize(("version", "range_text", "expected"), [
    ("2024.05-lts", "2024.x", True),
    ("2024.05-lts", "2025.x", False),
    ("2.1-custom-build", "2.x", True),
    ("20.1-lts", "2.x", False),
    ("banana", "2.x", False),
    ("banana", ">=2.0", False),
    ("x", "2.x", False),
])
def test_an_unparsable_version_falls_back_to_the_release_line_prefix(version, range_text, expected):
    assert version_in_range(version, range_text) is expected


@pytest.mark.parametrize("version", ["", "   ", "v"])
def test_an_empty_version_is_in_no_range(version):
    assert version_in_range(version, "2.x") is False
    assert version_in_range(version, ">=0") is False


# --- validate_range ---------------------------------------------------------------------------

@pytest.mark.parametrize("range_text", [
    "2.x", "2.*", "2", "v2.x", ">=2.0,<3.0", "<1.4", "~=2.1", "==1.4.2", "1.4.2", "v1.4.2", "2024.05-lts", " 2.x ",
])
def test_the_ranges_maintainers_write_are_valid(range_text):
    assert validate_range(range_text) is None


@pytest.mark.parametrize("range_text", ["", "   "])
def test_an_empty_range_is_refused(range_text):
    with pytest.raises(InvalidRange, match="cannot be empty"):
        validate_range(range_text)


@pytest.mark.parametrize("range_text", ["1" * 101, "2.x\n3.x", "2.x\t1"])
def test_a_range_longer_than_100_characters_or_on_several_lines_is_refused(range_text):
    with pytest.raises(InvalidRange, match="at most 100 characters on one line"):
        validate_range(range_text)


@pytest.mark.parametrize("range_text", [">=banana", "=>2.0", ">>2", "~=2", ">=2.0,<three"])
def test_an_invalid_specifier_is_refused_with_the_range_named(range_text):
    with pytest.raises(InvalidRange) as raised:
        validate_range(range_text)
    assert str(raised.value).startswith(f"{range_text!r} is not a version range")


@pytest.mark.parametrize("range_text", ["*", "2.*.*", "1.4.2 - 1.5", "1.x, 2.x", "^2.0"])
def test_a_range_that_is_neither_a_line_nor_a_specifier_nor_one_version_is_refused(range_text):
    # Left through, these would be compared as an exact version and silently match nothing.
    with pytest.raises(InvalidRange, match="is not a version range"):
        validate_range(range_text)


def test_version_in_range_refuses_an_invalid_specifier_rather_than_guessing():
    with pytest.raises(InvalidRange):
        version_in_range("2.0", ">=banana")
