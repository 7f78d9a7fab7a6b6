"""Version order per ecosystem and OSV event evaluation (advisories/ecosystems.py). Pure: no
database. Each ecosystem's order is checked on the examples of its own specification, and the
byte sort keys are checked against an independent comparison (packaging's, or the written rule)
on generated versions."""

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from vulndesk.advisories import ecosystems as e
from vulndesk.advisories.ecosystems import InvalidEcosystemVersion, UnknownEcosystem


def ordered(ecosystem, versions):
    keys = [e.parse(ecosystem, v) for v in versions]
    return all(a < b for a, b in itertools.pairwise(keys))


def same(ecosystem, *versions):
    return len({e.parse(ecosystem, v).key for v in versions}) == 1


def sign(number):
    return (number > 0) - (number < 0)


# --- PyPI ---------------------------------------------------------------------------------------

PEP440_CHAIN = ["1.0.dev0", "1.0a1.dev1", "1.0a1", "1.0a2.post1", "1.0a2", "1.0b1", "1.0rc1.dev3", "1.0rc1",
                "1.0", "1.0+abc", "1.0+abc.5", "1.0+5", "1.0.post1.dev0", "1.0.post1", "1.0.1", "1.1.dev1",
                "1.1", "2.0", "10.0", "1!0.1"]


def test_pypi_orders_dev_pre_post_and_local_releases_as_pep_440():
    chain = [v for v in PEP440_CHAIN if v != "1.0a2.post1"]
    assert ordered("PyPI", chain)
    assert chain == sorted(chain, key=Version)


def test_pypi_epoch_outranks_any_release_number():
    assert e.parse("PyPI", "1!0.1") > e.parse("PyPI", "2024.10.1")
    assert same("PyPI", "0!1.0", "1.0")


def test_pypi_trailing_zeros_v_prefix_and_spelling_variants_are_equal():
    assert same("PyPI", "1.0", "1.0.0", "v1.0", "1.0.0.0")
    assert same("PyPI", "1.0alpha1", "1.0a1", "1.0-a1", "1.0.a.1")
    assert same("PyPI", "1.0c1", "1.0rc1", "1.0-rc-1")


def test_pypi_rejects_what_is_not_pep_440():
    for bad in ("1.0-foo", "latest", "1..0", "1.0+", "=1.0"):
        with pytest.raises(InvalidEcosystemVersion, match="not a valid PyPI version"):
            e.parse("PyPI", bad)


pep440 = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        (f"{epoch}!" if epoch else "") + ".".join(map(str, release)) + (f"{pre[0]}{pre[1]}" if pre else "")
        + (f".post{post}" if post is not None else "") + (f".dev{dev}" if dev is not None else "")
        + (f"+{local}" if local else "")),
    st.integers(0, 2), st.lists(st.integers(0, 12), min_size=1, max_size=4),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 3)),
    st.none() | st.integers(0, 3), st.none() | st.integers(0, 3),
    st.none() | st.lists(st.sampled_from(["abc", "x", "1", "2", "10", "ubuntu"]), min_size=1, max_size=3)
    .map(".".join),
)


@settings(max_examples=400, deadline=None)
@given(pep440, pep440)
def test_pypi_byte_keys_order_exactly_as_packaging_does(left, right):
    a, b = Version(left), Version(right)
    expected = (a > b) - (a < b)
    assert sign((e.version_key("PyPI", left) > e.version_key("PyPI", right))
                - (e.version_key("PyPI", left) < e.version_key("PyPI", right))) == expected


# --- SemVer, npm, crates.io ----------------------------------------------------------------------

SEMVER_CHAIN = ["0.0.1", "0.1.0", "0.9.9", "0.10.0", "1.0.0-0", "1.0.0-1", "1.0.0-10", "1.0.0-alpha",
                "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
                "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0", "1.11.0", "2.0.0"]


@pytest.mark.parametrize("ecosystem", ["SemVer", "npm", "crates.io"])
def test_semver_precedence_follows_section_11_of_the_spec(ecosystem):
    assert ordered(ecosystem, SEMVER_CHAIN)


@pytest.mark.parametrize("ecosystem", ["SemVer", "npm", "crates.io"])
def test_build_metadata_is_ignored_for_precedence(ecosystem):
    assert same(ecosystem, "1.0.0+20130313144700", "1.0.0+exp.sha.5114f85", "1.0.0")
    assert same(ecosystem, "1.0.0-beta+exp.sha.5114f85", "1.0.0-beta")
    assert e.parse(ecosystem, "1.0.0-rc.1+build.1") < e.parse(ecosystem, "1.0.0+build.0")


@pytest.mark.parametrize("bad", ["1", "1.0", "01.0.0", "1.01.0", "1.0.0-", "1.0.0-01", "1.0.0+", "1.0.0-a..b",
                                 "1.0.0_1", "1.0.0-α", "a.b.c", "１.０.０"])
def test_semver_refuses_malformed_versions(bad):
    with pytest.raises(InvalidEcosystemVersion, match="SemVer"):
        e.parse("SemVer", bad)


def test_npm_accepts_the_v_prefix_but_plain_semver_and_crates_do_not():
    assert same("npm", "v1.2.3", "1.2.3")
    for ecosystem in ("SemVer", "crates.io"):
        with pytest.raises(InvalidEcosystemVersion, match=re.escape(ecosystem)):
            e.parse(ecosystem, "v1.2.3")


_ident = st.sampled_from(["0", "1", "2", "11", "alpha", "beta", "rc", "x-y", "1a", "a1"])
semver = st.builds(
    lambda core, pre, build: ".".join(map(str, core)) + (f"-{'.'.join(pre)}" if pre else "")
    + (f"+{build}" if build else ""),
    st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(0, 3)),
    st.lists(_ident, max_size=3), st.sampled_from(["", "build.1", "sha"]),
)


def semver_reference(left: str, right: str) -> int:
    """SemVer 2.0.0 section 11, written out."""
    def split(text):
        core, _, pre = text.split("+")[0].partition("-")
        return [int(n) for n in core.split(".")], pre.split(".") if pre else []

    (core_a, pre_a), (core_b, pre_b) = split(left), split(right)
    if core_a != core_b:
        return sign((core_a > core_b) - (core_a < core_b))
    if not pre_a or not pre_b:
        return sign(len(pre_b) - len(pre_a)) if (pre_a or pre_b) else 0
    for a, b in zip(pre_a, pre_b, strict=False):
        if a == b:
            continue
        if a.isdigit() and b.isdigit():
            return sign(int(a) - int(b))
        if a.isdigit() != b.isdigit():
            return -1 if a.isdigit() else 1
        return -1 if a < b else 1
    return sign(len(pre_a) - len(pre_b))


@settings(max_examples=400, deadline=None)
@given(semver, semver)
def test_semver_byte_keys_agree_with_the_written_rule(left, right):
    a, b = e.version_key("SemVer", left), e.version_key("SemVer", right)
    assert sign((a > b) - (a < b)) == semver_reference(left, right)


# --- Go ------------------------------------------------------------------------------------------

def test_go_pseudo_versions_sort_by_base_version_then_timestamp():
    assert ordered("Go", [
        "v0.0.0-20191109021931-daa7c04131f5",
        "v0.0.0-20200101000000-0123456789ab",
        "v0.1.0",
        "v1.2.3",
        "v1.2.4-0.20191109021931-daa7c04131f5",  # a commit after v1.2.3
        "v1.2.4-0.20201231235959-abcdefabcdef",
        "v1.2.4-pre",
        "v1.2.4-pre.0.20210101000000-abcdefabcdef",  # a commit after v1.2.4-pre
        "v1.2.4",
    ])


def test_go_ranges_without_the_v_prefix_compare_with_module_versions():
    assert same("Go", "v1.2.3", "1.2.3")
    assert e.in_events("Go", "v1.4.0", [{"introduced": "1.2.0"}, {"fixed": "1.4.1"}])


def test_go_incompatible_is_build_metadata_valid_only_from_v2():
    assert same("Go", "v2.0.0+incompatible", "v2.0.0")
    assert e.parse("Go", "v2.0.0+incompatible") < e.parse("Go", "v2.0.1+incompatible")
    with pytest.raises(InvalidEcosystemVersion, match="from major version 2"):
        e.parse("Go", "v1.0.0+incompatible")
    with pytest.raises(InvalidEcosystemVersion, match="Go module versions carry no build metadata"):
        e.parse("Go", "v1.0.0+meta")


@pytest.mark.parametrize("bad", ["v1", "v1.2", "version1", "vv1.2.3", "v01.2.3", "master"])
def test_go_refuses_what_is_not_a_canonical_module_version(bad):
    with pytest.raises(InvalidEcosystemVersion, match="not a valid Go version"):
        e.parse("Go", bad)


# --- Maven ---------------------------------------------------------------------------------------

def test_maven_qualifiers_follow_alpha_beta_milestone_rc_snapshot_release_sp():
    assert ordered("Maven", ["1-alpha-1", "1-alpha-2", "1-beta-1", "1-milestone-1", "1-rc-1", "1-snapshot",
                             "1", "1-sp", "1-sp-1", "1-foo", "1-foo2", "1-foo10", "1-1", "1.1"])


def test_maven_examples_of_the_version_order_specification():
    assert same("Maven", "1", "1.0", "1.0.0", "1.ga", "1-ga", "1-0", "1.final", "1.RELEASE", "1.")
    assert same("Maven", "1-a1", "1-alpha-1", "1.alpha1", "1-ALPHA-1")
    assert same("Maven", "1.0-cr1", "1.0-rc1", "1.0.RC1")
    assert same("Maven", "1.foo", "1-foo")
    assert same("Maven", "1-ga-1", "1-1")
    assert e.parse("Maven", "1-sp.1") > e.parse("Maven", "1-ga.1")
    assert e.parse("Maven", "1-sp-1") < e.parse("Maven", "1-ga-1")
    assert e.parse("Maven", "1") < e.parse("Maven", "1.1")  # numeric padding


def test_maven_real_world_release_trains_sort_as_maven_sorts_them():
    assert ordered("Maven", ["2.9.10", "2.9.10.1", "2.9.10.8", "2.10.0-rc1", "2.10.0", "2.10.0.1", "2.10.1",
                             "2.12.7.1", "2.13.0"])
    # An unknown qualifier sorts after the release, as in Maven (jackson's 2.10.0.pr1 > 2.10.0).
    assert ordered("Maven", ["2.10.0", "2.10.0.pr1", "2.10.0-sp1", "2.10.0-1"]) is False
    assert ordered("Maven", ["2.10.0", "2.10.0-sp1", "2.10.0.pr1", "2.10.0-1", "2.10.0.1"])
    assert ordered("Maven", ["5.3.0-M1", "5.3.0-RC2", "5.3.0-SNAPSHOT", "5.3.0.RELEASE", "5.3.0-SP1", "5.3.1"])
    assert ordered("Maven", ["1.0.0-beta.2", "1.0.0-beta.10", "1.0.0"])


@pytest.mark.parametrize("bad", ["", "-1", ".1", "1 0", "1.0\n", "1.0é", "x" * 201, "1.0/../2"])
def test_maven_refuses_empty_spaced_or_exotic_versions(bad):
    with pytest.raises(InvalidEcosystemVersion, match="Maven"):
        e.parse("Maven", bad)


MAVEN_ORDER = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"]


def maven_reference(left: str, right: str) -> int:
    """The specification's comparison on the canonical tokens, with null padding."""
    def rank(token):
        prefix, value = token
        return {(".", False): 0, ("-", False): 1, ("-", True): 2, (".", True): 3}[(prefix, value.isdigit())]

    def compare(a, b):
        if a[0] == b[0]:
            if a[1].isdigit() and b[1].isdigit():
                return sign(int(a[1]) - int(b[1]))
            if a[1].isdigit() != b[1].isdigit():
                return 1 if a[1].isdigit() else -1
            ia = MAVEN_ORDER.index(a[1]) if a[1] in MAVEN_ORDER else len(MAVEN_ORDER)
            ib = MAVEN_ORDER.index(b[1]) if b[1] in MAVEN_ORDER else len(MAVEN_ORDER)
            if ia == ib == len(MAVEN_ORDER):
                return (a[1] > b[1]) - (a[1] < b[1])
            return sign(ia - ib)
        return sign(rank(a) - rank(b))

    tokens_a, tokens_b = e.maven_tokens(left), e.maven_tokens(right)
    for index in range(max(len(tokens_a), len(tokens_b))):
        other = tokens_b[index] if index < len(tokens_b) else tokens_a[index]
        null = (".", "0") if other[0] == "." else ("-", "")
        a = tokens_a[index] if index < len(tokens_a) else null
        b = tokens_b[index] if index < len(tokens_b) else null
        result = compare(a, b)
        if result:
            return result
    return 0


maven = st.builds(
    lambda first, rest: first + "".join(rest),
    st.sampled_from(["0", "1", "2", "10"]),
    st.lists(st.tuples(st.sampled_from([".", "-", ""]),
                       st.sampled_from(["0", "1", "2", "10", "alpha", "a", "b", "m", "beta", "rc", "cr", "snapshot",
                                        "ga", "final", "sp", "foo", "bar", ""])).map("".join), max_size=5),
)


@settings(max_examples=600, deadline=None)
@given(maven, maven)
def test_maven_byte_keys_agree_with_the_specifications_padded_comparison(left, right):
    a, b = e.version_key("Maven", left), e.version_key("Maven", right)
    assert sign((a > b) - (a < b)) == maven_reference(left, right)


@settings(max_examples=300, deadline=None)
@given(maven, maven, maven)
def test_maven_order_is_transitive(a, b, c):
    x, y, z = sorted([e.parse("Maven", a), e.parse("Maven", b), e.parse("Maven", c)])
    assert maven_reference(x.text, y.text) <= 0 and maven_reference(y.text, z.text) <= 0
    assert maven_reference(x.text, z.text) <= 0


# --- GIT -----------------------------------------------------------------------------------------

def test_git_versions_are_lower_cased_commit_hashes():
    assert e.parse("GIT", "ABCDEF1234567").text == "ABCDEF1234567"
    assert same("GIT", "ABCDEF1234567", "abcdef1234567")
    for bad in ("abc12", "xyz1234567", "a" * 65, "HEAD"):
        with pytest.raises(InvalidEcosystemVersion, match="GIT"):
            e.parse("GIT", bad)


def test_git_ranges_match_listed_introduced_and_last_affected_commits_only():
    events = [{"introduced": "a" * 40}, {"last_affected": "b" * 40}, {"fixed": "c" * 40}, {"limit": "d" * 40}]
    assert e.in_events("GIT", "a" * 40, events)
    assert e.in_events("GIT", "B" * 40, events)
    assert e.in_events("GIT", "b" * 12, events)  # an abbreviated hash
    assert not e.in_events("GIT", "c" * 40, events)
    assert not e.in_events("GIT", "d" * 40, events)
    assert not e.in_events("GIT", "e" * 40, events)


# --- OSV events ------------------------------------------------------------------------------------

def test_introduced_zero_and_fixed_cover_everything_before_the_fix():
    events = [{"introduced": "0"}, {"fixed": "1.0.2"}]
    assert e.in_events("SemVer", "0.0.0", events)
    assert e.in_events("SemVer", "1.0.2-rc.1", events)  # a prerelease of the fix is still affected
    assert not e.in_events("SemVer", "1.0.2", events)


def test_last_affected_includes_that_version_but_fixed_excludes_it():
    assert e.in_events("PyPI", "2.1.214", [{"introduced": "0"}, {"last_affected": "2.1.214"}])
    assert not e.in_events("PyPI", "2.1.214.post1", [{"introduced": "0"}, {"last_affected": "2.1.214"}])
    assert not e.in_events("PyPI", "2.1.214", [{"introduced": "0"}, {"fixed": "2.1.214"}])


def test_several_introduced_fixed_pairs_in_one_range_even_unsorted():
    events = [{"introduced": "3.0.0"}, {"fixed": "3.2.5"}, {"introduced": "1.0.0"}, {"fixed": "1.0.2"}]
    affected = [v for v in ["0.9.0", "1.0.0", "1.0.1", "1.0.2", "2.0.0", "3.0.0", "3.2.4", "3.2.5", "4.0.0"]
                if e.in_events("SemVer", v, events)]
    assert affected == ["1.0.0", "1.0.1", "3.0.0", "3.2.4"]


def test_zero_x_versions_and_prereleases_are_ordered_inside_ranges():
    events = [{"introduced": "0.3.0-beta.1"}, {"fixed": "0.10.0"}]
    assert not e.in_events("npm", "0.3.0-alpha", events)
    assert e.in_events("npm", "0.3.0-beta.2", events)
    assert e.in_events("npm", "0.9.0", events)
    assert not e.in_events("npm", "0.10.0", events)


def test_limit_bounds_the_range_and_a_star_limit_is_infinity():
    events = [{"introduced": "1.0"}, {"limit": "2.0"}]
    assert e.in_events("PyPI", "1.9", events)
    assert not e.in_events("PyPI", "2.0", events)
    assert e.in_events("PyPI", "9.0", [{"introduced": "1.0"}, {"limit": "*"}])
    assert e.in_events("PyPI", "2.5", [{"introduced": "1.0"}, {"limit": "2.0"}, {"limit": "3.0"}])


def test_a_version_that_does_not_parse_is_not_affected():
    assert not e.in_events("PyPI", "not a version", [{"introduced": "0"}])


def test_pypi_epoch_keeps_an_epoch_release_outside_a_range_of_plain_releases():
    events = [{"introduced": "0"}, {"fixed": "2024.1"}]
    assert e.in_events("PyPI", "2023.12", events)
    assert not e.in_events("PyPI", "1!1.0", events)


def test_maven_range_with_qualifiers():
    events = [{"introduced": "2.0.0-beta-1"}, {"fixed": "2.0.3"}]
    assert not e.in_events("Maven", "2.0.0-alpha-9", events)
    assert e.in_events("Maven", "2.0.0-RC1", events)
    assert e.in_events("Maven", "2.0.0", events)
    assert e.in_events("Maven", "2.0.2.Final", events)
    assert not e.in_events("Maven", "2.0.3.RELEASE", events)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["introduced", "fixed", "last_affected", "limit"]), semver),
                min_size=1, max_size=6), st.booleans(), semver)
def test_index_intervals_hold_exactly_the_versions_in_events_accepts(pairs, from_zero, version):
    events = [{name: value} for name, value in pairs]
    if from_zero:
        events.append({"introduced": "0"})
    inside = any(lower <= e.version_key("SemVer", version) and (
        e.version_key("SemVer", version) < upper or (inclusive and e.version_key("SemVer", version) == upper))
        for lower, upper, inclusive in e.affected_intervals("SemVer", events))
    assert inside == e.in_events("SemVer", version, events)


def test_check_event_order_refuses_a_fix_before_the_introduction():
    with pytest.raises(InvalidEcosystemVersion, match="comes before"):
        e.check_event_order("PyPI", [{"introduced": "2.0"}, {"fixed": "1.5"}], where="Range 1")
    e.check_event_order("PyPI", [{"introduced": "0"}, {"fixed": "1.5"}, {"limit": "*"}], where="Range 1")
    e.check_event_order("GIT", [{"introduced": "b" * 40}, {"fixed": "a" * 40}], where="Range 1")


# --- Hostile input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ecosystem", e.ECOSYSTEMS)
@pytest.mark.parametrize("bad", ["", " 1.0.0", "1.0.0 ", "1.0.0\x00", "1.0.0\n", "9" * 5000, "1.0.0\u202e"])
def test_hostile_versions_raise_a_clear_error_naming_the_ecosystem(ecosystem, bad):
    with pytest.raises(InvalidEcosystemVersion) as raised:
        e.parse(ecosystem, bad, where="Query")
    assert raised.value.message.startswith("Query: ")
    assert ecosystem in raised.value.message
    assert len(raised.value.message) < 300


def test_an_unknown_ecosystem_is_refused_with_the_known_list():
    with pytest.raises(InvalidEcosystemVersion, match="unknown ecosystem 'Cobol'"):
        e.parse("Cobol", "1.0")
    with pytest.raises(UnknownEcosystem, match="PyPI, npm, Go, Maven, crates.io, SemVer, GIT"):
        e.canonical_ecosystem("Cobol")
    assert e.canonical_ecosystem("pypi") == "PyPI"
    assert e.canonical_ecosystem("CRATES.IO") == "crates.io"


def test_pypi_package_names_are_normalised_per_pep_503_and_others_kept():
    assert e.normalise_package_name("PyPI", " Django_REST..framework ") == "django-rest-framework"
    assert e.normalise_package_name("npm", "@Scope/Pkg") == "@Scope/Pkg"
    assert e.normalise_package_name("Maven", "org.Apache:commons") == "org.Apache:commons"


def test_a_version_both_fixed_and_last_affected_is_not_affected_in_either_reading():
    # Found by the property test above: the index and the evaluation disagreed on this range.
    events = [{"introduced": "0.0.0"}, {"last_affected": "0.0.2-0.0.0"}, {"fixed": "0.0.2-0.0.0"}]
    assert not e.in_events("SemVer", "0.0.2-0.0.0", events)
    [(lower, upper, inclusive)] = e.affected_intervals("SemVer", events)
    assert upper == e.version_key("SemVer", "0.0.2-0.0.0") and not inclusive
