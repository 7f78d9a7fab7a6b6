"""The OSV-compatible API over HTTP: GET vulns/<id>, POST query, POST querybatch. Anonymous,
JSON in and out, clear 400s for malformed input, rate limited per IP."""

import json

import pytest

from tests.osv.conftest import pkg

pytestmark = pytest.mark.django_db

QUERY, BATCH = "/api/osv/v1/query", "/api/osv/v1/querybatch"


def post(client, url, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", **headers)


def query_ids(client, ecosystem, name, version):
    response = post(client, QUERY, {"package": {"ecosystem": ecosystem, "name": name}, "version": version})
    assert response.status_code == 200, response.content
    return [vuln["id"] for vuln in response.json()["vulns"]]


# --- vulns/<id> ------------------------------------------------------------------------------------

def test_a_vulnerability_is_found_by_our_id_our_identifier_and_its_aliases(client, published):
    advisory = published(pkg("PyPI", "parser", [{"introduced": "0"}]), cve_id="CVE-2026-4242",
                         ghsa_id="GHSA-abcd-efgh-ijkl")
    osv_id = f"x_{advisory.identifier}"
    for asked in (osv_id, advisory.identifier, advisory.identifier.lower(), "CVE-2026-4242", "cve-2026-4242",
                  "GHSA-abcd-efgh-ijkl"):
        response = client.get(f"/api/osv/v1/vulns/{asked}")
        assert response.status_code == 200, asked
        assert response.json() == advisory.public_document
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("asked", ["x_NOPE-2026-0001", "CVE-1999-0001", "x_", "%00", "a" * 300, "..%2f..%2fetc"])
def test_an_unknown_or_malformed_id_is_404(client, asked):
    response = client.get(f"/api/osv/v1/vulns/{asked}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_document_is_the_published_revision_not_the_live_edits(client, published, triager):
    from vulndesk.advisories.services import advisory_update

    advisory = published(pkg("PyPI", "parser", [{"introduced": "0"}]))
    advisory_update(advisory=advisory, actor=triager, summary="Unpublished wording", cve_id="CVE-2026-7777")
    document = client.get(f"/api/osv/v1/vulns/x_{advisory.identifier}").json()
    assert document["summary"] != "Unpublished wording" and "aliases" not in document
    assert client.get("/api/osv/v1/vulns/CVE-2026-7777").status_code == 404


# --- query, per ecosystem --------------------------------------------------------------------------

def test_pypi_query_honours_prereleases_post_releases_and_epochs(client, published):
    advisory = published(pkg("PyPI", "Parser", [{"introduced": "2.0b1"}, {"fixed": "2.0.post1"}]))
    osv_id = f"x_{advisory.identifier}"
    assert query_ids(client, "PyPI", "parser", "2.0a9") == []
    assert query_ids(client, "PyPI", "parser", "2.0rc1") == [osv_id]
    assert query_ids(client, "PyPI", "parser", "2.0") == [osv_id]
    assert query_ids(client, "PyPI", "parser", "2.0.post1.dev1") == [osv_id]
    assert query_ids(client, "PyPI", "parser", "2.0.post1") == []
    assert query_ids(client, "PyPI", "parser", "1!1.0") == []


def test_npm_query_orders_prereleases_and_zero_x_and_ignores_build_metadata(client, published):
    advisory = published(pkg("npm", "tiny-parser", [{"introduced": "0.3.0-beta.2"}, {"fixed": "0.10.0"}]))
    osv_id = f"x_{advisory.identifier}"
    assert query_ids(client, "npm", "tiny-parser", "0.3.0-beta.1") == []
    assert query_ids(client, "npm", "tiny-parser", "0.3.0-beta.10") == [osv_id]
    assert query_ids(client, "npm", "tiny-parser", "0.9.0+build.7") == [osv_id]
    assert query_ids(client, "npm", "tiny-parser", "v0.9.0") == [osv_id]
    assert query_ids(client, "npm", "tiny-parser", "0.10.0+build.7") == []


def test_crates_query_ignores_build_metadata(client, published):
    advisory = published(pkg("crates.io", "parser", [{"introduced": "1.0.0"}, {"fixed": "1.0.1"}]))
    assert query_ids(client, "crates.io", "parser", "1.0.0+deadbeef") == [f"x_{advisory.identifier}"]
    assert query_ids(client, "crates.io", "parser", "1.0.1-rc.1") == [f"x_{advisory.identifier}"]


def test_go_query_places_pseudo_versions_between_releases(client, published):
    advisory = published(pkg("Go", "example.org/parser", [{"introduced": "1.2.3"}, {"fixed": "1.2.4"}],
                             range_type="SEMVER"))
    osv_id = f"x_{advisory.identifier}"
    assert query_ids(client, "Go", "example.org/parser", "v1.2.4-0.20191109021931-daa7c04131f5") == [osv_id]
    assert query_ids(client, "Go", "example.org/parser", "v1.2.3-0.20191109021931-daa7c04131f5") == []
    assert query_ids(client, "Go", "example.org/parser", "v0.0.0-20191109021931-daa7c04131f5") == []
    assert query_ids(client, "Go", "example.org/parser", "v1.2.4") == []


def test_maven_query_uses_qualifier_order(client, published):
    advisory = published(pkg("Maven", "org.example:parser", [{"introduced": "2.0.0-beta-1"}, {"fixed": "2.0.3"}]))
    osv_id = f"x_{advisory.identifier}"
    assert query_ids(client, "Maven", "org.example:parser", "2.0.0-alpha-9") == []
    assert query_ids(client, "Maven", "org.example:parser", "2.0.0.RC1") == [osv_id]
    assert query_ids(client, "Maven", "org.example:parser", "2.0.2.Final") == [osv_id]
    assert query_ids(client, "Maven", "org.example:parser", "2.0.3-SNAPSHOT") == [osv_id]
    assert query_ids(client, "Maven", "org.example:parser", "2.0.3.RELEASE") == []
    assert query_ids(client, "Maven", "org.example:parser", "2.0.3-sp1") == []


def test_last_affected_includes_the_version_and_fixed_excludes_it(client, published):
    last = published(pkg("SemVer", "lib", [{"introduced": "0"}, {"last_affected": "2.1.214"}]))
    fixed = published(pkg("SemVer", "lib", [{"introduced": "0"}, {"fixed": "2.1.214"}]))
    assert query_ids(client, "SemVer", "lib", "2.1.213") == sorted([f"x_{last.identifier}", f"x_{fixed.identifier}"])
    assert query_ids(client, "SemVer", "lib", "2.1.214") == [f"x_{last.identifier}"]
    assert query_ids(client, "SemVer", "lib", "2.1.215") == []


def test_multiple_ranges_and_multiple_pairs_in_one_range(client, published):
    advisory = published(pkg("SemVer", "lib", [{"introduced": "1.0.0"}, {"fixed": "1.0.2"},
                                               {"introduced": "3.0.0"}, {"fixed": "3.2.5"}],
                             [{"introduced": "5.0.0"}]))
    osv_id = f"x_{advisory.identifier}"
    hits = {v: query_ids(client, "SemVer", "lib", v) == [osv_id]
            for v in ["0.9.9", "1.0.1", "1.0.2", "3.1.0", "3.2.5", "4.0.0", "5.0.0", "9.9.9"]}
    assert hits == {"0.9.9": False, "1.0.1": True, "1.0.2": False, "3.1.0": True, "3.2.5": False,
                    "4.0.0": False, "5.0.0": True, "9.9.9": True}


def test_listed_versions_match_by_ecosystem_equality(client, published):
    advisory = published(pkg("PyPI", "parser", versions=["1.4"]))
    assert query_ids(client, "PyPI", "parser", "1.4.0") == [f"x_{advisory.identifier}"]
    assert query_ids(client, "PyPI", "parser", "1.4.1") == []


def test_a_query_without_version_returns_every_advisory_of_the_package(client, published):
    first = published(pkg("PyPI", "parser", [{"introduced": "0"}, {"fixed": "1.0"}]))
    second = published(pkg("PyPI", "parser", versions=["3.0"]))
    published(pkg("PyPI", "other", [{"introduced": "0"}]))
    response = post(client, QUERY, {"package": {"ecosystem": "PyPI", "name": "parser"}})
    assert [v["id"] for v in response.json()["vulns"]] == sorted([f"x_{first.identifier}", f"x_{second.identifier}"])


def test_the_same_name_in_another_ecosystem_is_another_package(client, published):
    published(pkg("npm", "parser", [{"introduced": "0"}]))
    assert query_ids(client, "crates.io", "parser", "1.0.0") == []


def test_a_commit_query_matches_listed_commits_full_or_abbreviated(client, published):
    advisory = published(pkg("GIT", "parser", [{"introduced": "abcdef1234567"}, {"fixed": "b" * 40}],
                             versions=["c" * 40]))
    osv_id = f"x_{advisory.identifier}"
    for commit in ("abcdef1234567" + "0" * 27, "ABCDEF1234567", "abcdef1", "c" * 40, "c" * 9):
        response = post(client, QUERY, {"commit": commit})
        assert [v["id"] for v in response.json()["vulns"]] == [osv_id], commit
    for commit in ("b" * 40, "abcdef0234567", "d" * 40):
        assert post(client, QUERY, {"commit": commit}).json()["vulns"] == [], commit


# --- querybatch ------------------------------------------------------------------------------------

def test_querybatch_answers_each_query_in_order_with_id_and_modified(client, published):
    pypi = published(pkg("PyPI", "parser", [{"introduced": "0"}, {"fixed": "2.0"}]))
    git = published(pkg("GIT", "parser", [{"introduced": "a" * 40}]))
    response = post(client, BATCH, {"queries": [
        {"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "1.0"},
        {"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "2.0"},
        {"commit": "a" * 40},
        {"package": {"ecosystem": "PyPI", "name": "parser"}},
        {"package": {"ecosystem": "npm", "name": "nothing"}, "version": "1.0.0"},
    ]})
    assert response.status_code == 200
    pypi_ref = {"id": f"x_{pypi.identifier}", "modified": pypi.public_document["modified"]}
    git_ref = {"id": f"x_{git.identifier}", "modified": git.public_document["modified"]}
    assert response.json() == {"results": [{"vulns": [pypi_ref]}, {"vulns": []}, {"vulns": [git_ref]},
                                           {"vulns": [pypi_ref]}, {"vulns": []}]}


def test_a_batch_of_1000_queries_takes_a_bounded_number_of_database_queries(client, published,
                                                                            django_assert_max_num_queries):
    advisory = published(pkg("PyPI", "pkg-7", [{"introduced": "0"}, {"fixed": "1.5"}]))
    queries = [{"package": {"ecosystem": "PyPI", "name": f"pkg-{n % 50}"}, "version": f"1.{n // 50 % 10}"}
               for n in range(990)] + [{"commit": f"{n:040x}"} for n in range(10)]
    with django_assert_max_num_queries(9):  # rate counter (7 with savepoints) + versions + commits
        response = post(client, BATCH, {"queries": queries})
    results = response.json()["results"]
    assert len(results) == 1000
    hits = [n for n, result in enumerate(results) if result["vulns"]]
    assert hits == [n for n in range(990) if n % 50 == 7 and n // 50 % 10 < 5]
    assert results[hits[0]]["vulns"][0]["id"] == f"x_{advisory.identifier}"


# --- malformed and hostile input -----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({"package": {"ecosystem": "Cobol", "name": "x"}, "version": "1"}, "query.package.ecosystem"),
    ({"package": {"ecosystem": None, "name": "x"}, "version": "1"}, "query.package.ecosystem"),
    ({"package": {"ecosystem": "PyPI", "name": "x"}, "version": "not a version"}, "query.version"),
    ({"package": {"ecosystem": "PyPI", "name": "x"}, "version": 1.0}, "query.version"),
    ({"package": {"ecosystem": "Go", "name": "x"}, "version": "v1.0.0+incompatible"}, "query.version"),
    ({"package": {"ecosystem": "Maven", "name": "x"}, "version": "9" * 10_000}, "query.version"),
    ({"package": {"ecosystem": "PyPI", "name": ""}, "version": "1.0"}, "query.package.name"),
    ({"package": {"ecosystem": "PyPI", "name": "x" * 301}, "version": "1.0"}, "query.package.name"),
    ({"package": {"ecosystem": "PyPI", "name": ["x"]}, "version": "1.0"}, "query.package.name"),
    ({"package": {"ecosystem": "PyPI", "name": "x\u0000y"}, "version": "1.0"}, "query.package.name"),
    ({"package": {"ecosystem": "PyPI", "name": "x", "purl": "pkg:pypi/x"}, "version": "1.0"}, "query.package.purl"),
    ({"package": {"ecosystem": "PyPI", "name": "x", "evil": 1}, "version": "1.0"}, "query.package"),
    ({"package": "PyPI/x", "version": "1.0"}, "query.package"),
    ({"package": {"ecosystem": "GIT", "name": "x"}, "version": "a" * 40}, "query.package.ecosystem"),
    ({"commit": "xyz"}, "query.commit"),
    ({"commit": "a" * 65}, "query.commit"),
    ({"commit": 1234567}, "query.commit"),
    ({"commit": "a" * 40, "package": {"ecosystem": "PyPI", "name": "x"}}, "query"),
    ({"version": "1.0"}, "query.package"),
    ({}, "query.package"),
    ({"__proto__": {"admin": True}}, "query"),
    ([], "query"),
    ('"just a string"', "query"),
])
def test_malformed_queries_get_a_400_naming_the_field(client, body, field):
    response = post(client, QUERY, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == field and error["message"]


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_json_gets_a_400(client, body):
    assert post(client, QUERY, body).status_code == 400


def test_a_batch_of_more_than_1000_queries_is_refused(client):
    queries = [{"commit": "a" * 40}] * 1001
    response = post(client, BATCH, {"queries": queries})
    assert response.status_code == 400
    assert "At most 1000 queries" in response.json()["error"]["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"queries": "all"}, "queries"),
    ({"queries": [], "more": 1}, "queries"),
    ([{"commit": "a" * 40}], "queries"),
    ({"queries": [{"commit": "a" * 40}, {"package": {"ecosystem": "npm", "name": "x"}, "version": "1.0"}]},
     "queries[1].version"),
])
def test_a_malformed_batch_names_the_query_at_fault(client, body, field):
    response = post(client, BATCH, body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_an_empty_batch_gets_an_empty_result(client):
    assert post(client, BATCH, {"queries": []}).json() == {"results": []}


def test_get_on_query_is_405_and_post_on_vulns_is_405(client):
    assert client.get(QUERY).status_code == 405
    assert post(client, "/api/osv/v1/vulns/x_A-1", {}).status_code == 405


# --- public, CORS, throttling, schema ----------------------------------------------------------------

def test_the_api_needs_no_credentials_and_ignores_a_session(client, published, triager):
    from tests.factories.core import verified_login

    published(pkg("PyPI", "parser", [{"introduced": "0"}]))
    verified_login(client, triager.user)
    # No CSRF token: a logged-in browser session is not used, so it cannot be abused cross-site.
    assert query_ids(client, "PyPI", "parser", "1.0") != []


def test_cross_origin_requests_are_allowed_without_credentials(client):
    response = client.options(QUERY, HTTP_ORIGIN="https://scanner.example",
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response


def test_requests_beyond_the_osv_rate_limit_get_429(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "osv": (2, 60)}
    codes = [post(client, QUERY, {"commit": "a" * 40}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert int(post(client, QUERY, {"commit": "a" * 40})["Retry-After"]) >= 1


def test_without_an_osv_rate_limit_setting_the_default_applies(client, settings):
    settings.RATE_LIMITS = {key: value for key, value in settings.RATE_LIMITS.items() if key != "osv"}
    assert post(client, QUERY, {"commit": "a" * 40}).status_code == 200


def test_the_openapi_schema_documents_the_three_operations(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content.decode()
    for path in ("/api/osv/v1/vulns/{vuln_id}", "/api/osv/v1/query", "/api/osv/v1/querybatch"):
        assert path in schema
