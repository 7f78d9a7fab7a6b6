"""OSV ranges as intervals, vers strings and package URLs. Pure: no database."""

import pytest

from vulndesk.exports.packages import Interval, describe, intervals, purl, vers


def test_events_are_paired_in_version_order_not_in_the_order_given():
    ranges = [{"type": "ECOSYSTEM", "events": [{"fixed": "2.1.1"}, {"introduced": "2.0.0"}, {"fixed": "1.10.0"},
                                               {"introduced": "1.2.0"}]}]
    assert intervals("PyPI", ranges) == [Interval("1.2.0", "fixed", "1.10.0"), Interval("2.0.0", "fixed", "2.1.1")]


def test_an_introduced_without_an_end_stays_open():
    assert intervals("npm", [{"type": "SEMVER", "events": [{"introduced": "0"}]}]) == [Interval("0", None, None)]


def test_git_events_keep_their_order_and_repository():
    ranges = [{"type": "GIT", "repo": "https://git.example.org/r.git", "events": [{"introduced": "f" * 40},
                                                                                  {"fixed": "a" * 40}]}]
    assert intervals("GIT", ranges) == [Interval("f" * 40, "fixed", "a" * 40, "https://git.example.org/r.git")]


@pytest.mark.parametrize(("ecosystem", "interval", "expected"), [
    ("PyPI", Interval("1.0.0", "fixed", "1.4.2"), "vers:pypi/>=1.0.0|<1.4.2"),
    ("npm", Interval("0", "last_affected", "3.2.0"), "vers:npm/<=3.2.0"),
    ("Go", Interval("1.2.0", "limit", "1.3.0"), "vers:golang/>=1.2.0|<1.3.0"),
    ("Maven", Interval("5.0.0", None, None), "vers:maven/>=5.0.0"),
    ("crates.io", Interval("0", None, None), "vers:cargo/*"),
])
def test_intervals_read_as_vers_ranges(ecosystem, interval, expected):
    assert vers(ecosystem, interval) == expected


def test_a_git_range_is_described_in_words():
    interval = Interval("0", "fixed", "a" * 40, "https://git.example.org/r.git")
    assert describe("GIT", interval) == (f"commits from the first commit up to commit {'a' * 40} (which fixes it) "
                                         "in https://git.example.org/r.git")


@pytest.mark.parametrize(("ecosystem", "name", "expected"), [
    ("PyPI", "Acme_Client", "pkg:pypi/acme-client@1.0+local"),
    ("npm", "@acme/widget", "pkg:npm/%40acme/widget@1.0+local"),
    ("Go", "github.com/acme/agent", "pkg:golang/github.com/acme/agent@1.0+local"),
    ("Maven", "org.acme:acme-core", "pkg:maven/org.acme/acme-core@1.0+local"),
    ("crates.io", "acme-parse", "pkg:cargo/acme-parse@1.0+local"),
])
def test_package_urls_follow_each_purl_type(ecosystem, name, expected):
    assert purl(ecosystem, name, "1.0+local") == expected.replace("+", "%2B")


@pytest.mark.parametrize(("ecosystem", "name"), [("SemVer", "acme"), ("GIT", "https://x/y.git"), ("Maven", "acme")])
def test_no_package_url_where_no_purl_type_fits(ecosystem, name):
    assert purl(ecosystem, name, "1.0.0") is None
