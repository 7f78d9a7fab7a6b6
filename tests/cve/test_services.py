"""Reserve, publish and update against CVE Services on loopback, including its error answers."""

import logging

import pytest
from django.db import connection

from tests.cve.conftest import API_KEY, CNA, CNA_USER, make_advisory
from vulndesk.advisories.services import advisory_transition, advisory_update
from vulndesk.audit.models import AuditEntry
from vulndesk.core import crypto
from vulndesk.core.errors import Conflict, DomainError, NotAllowed, NotFound
from vulndesk.cve import client, services
from vulndesk.cve.models import CnaAccount, CveAssignment, CveAssignmentState
from vulndesk.organisations import keys, rotation
from vulndesk.organisations.sealing import SEALED_MODELS

pytestmark = pytest.mark.django_db


# --- reserve -----------------------------------------------------------------------------------------

def test_reserve_gives_the_advisory_the_id_cve_services_reserved(cna, advisory, triager, cve_services, frozen_clock):
    assignment = services.cve_id_reserve(advisory=advisory, actor=triager)

    advisory.refresh_from_db()
    assert assignment.cve_id == advisory.cve_id == "CVE-2026-10001"
    assert assignment.state == CveAssignmentState.RESERVED
    assert cve_services.cve_ids["CVE-2026-10001"]["owning_cna"] == CNA
    (call,) = cve_services.calls("POST", "cve-id")
    assert call["query"] == {"amount": "1", "cve_year": "2026", "short_name": CNA}
    assert (call["org"], call["user"], call["key_matched"]) == (CNA, CNA_USER, True)
    assert CnaAccount.objects.get(pk=cna.pk).remaining_quota == 4
    entry = AuditEntry.objects.filter(action="cve.reserve").get()
    assert entry.data == {"cve_id": "CVE-2026-10001", "advisory": advisory.identifier}
    assert AuditEntry.objects.filter(action="advisory.update", target_id=str(advisory.pk)).exists()


def test_reserve_works_for_a_draft_advisory_because_a_reserved_id_is_not_public(cna, organisation, triager,
                                                                                cve_services):
    draft = make_advisory(organisation, triager, publish=False)

    services.cve_id_reserve(advisory=draft, actor=triager)

    draft.refresh_from_db()
    assert draft.cve_id.startswith("CVE-")
    assert not draft.is_public


def test_quota_exceeded_is_a_clear_error_and_changes_nothing(cna, advisory, triager, cve_services):
    cve_services.orgs[CNA].id_quota = 0

    with pytest.raises(client.CveQuotaExceeded, match=r"quota is used up \(0 of 0 IDs are reserved\)"):
        services.cve_id_reserve(advisory=advisory, actor=triager)

    advisory.refresh_from_db()
    assert advisory.cve_id == ""
    assert not CveAssignment.objects.exists()
    assert len(cve_services.calls("POST", "cve-id")) == 1  # a 4xx is never retried


def test_wrong_api_key_is_a_credentials_error_and_not_retried(cna, advisory, triager, cve_services):
    cve_services.orgs[CNA].users[CNA_USER] = "another-key-entirely"

    with pytest.raises(client.CveCredentialsRefused, match="HTTP 401.*API key in the CNA settings"):
        services.cve_id_reserve(advisory=advisory, actor=triager)

    assert len(cve_services.requests) == 1
    assert not CveAssignment.objects.exists()


def test_a_server_error_is_retried_after_cve_services_shows_nothing_was_reserved(cna, advisory, triager,
                                                                                  cve_services):
    cve_services.fail_next(503, method="POST", path_contains="cve-id")
    cve_services.fail_next(502, method="POST", path_contains="cve-id", html=True)

    assignment = services.cve_id_reserve(advisory=advisory, actor=triager)

    assert assignment.cve_id == "CVE-" + str(assignment.reserved_at.year) + "-10001"
    assert len(cve_services.cve_ids) == 1  # the failed attempts reserved nothing
    # Each POST is preceded by a listing (what we hold already) and each lost answer followed by one.
    assert [r["method"] for r in cve_services.calls(path_contains="cve-id")] == [
        "GET", "POST", "GET", "GET", "POST", "GET", "GET", "POST"]


def test_server_errors_on_every_try_give_up_after_three_and_release_the_claim(cna, advisory, triager, cve_services,
                                                                              caplog):
    cve_services.fail_next(500, count=5, method="POST")

    with caplog.at_level(logging.WARNING, logger="vulndesk.cve"), \
            pytest.raises(client.CveServicesUnavailable, match=r"3 times in a row; CVE Services shows that no ID"):
        services.cve_id_reserve(advisory=advisory, actor=triager)

    assert len(cve_services.calls("POST")) == 3
    assert len(cve_services.failures) == 2  # not a fourth try
    assert [r.getMessage().split()[0] for r in caplog.records] == ["cve_services.failed", "cve.reserve_answer_lost"] * 3
    advisory.refresh_from_db()
    assert advisory.cve_id == "" and cve_services.cve_ids == {}
    assert not CveAssignment.objects.exists()
    # The claim is gone, so the next try can reserve.
    assert services.cve_id_reserve(advisory=advisory, actor=triager).cve_id


def test_the_back_off_doubles_between_tries(cna, advisory, triager, cve_services, settings, monkeypatch):
    slept = []
    monkeypatch.setattr(client.time, "sleep", slept.append)  # the stdlib's sleep, not our code
    settings.CVE_SERVICES_BACKOFF_SECONDS = 0.5
    cve_services.fail_next(503, count=3, method="POST")

    with pytest.raises(client.CveServicesUnavailable):
        services.cve_id_reserve(advisory=advisory, actor=triager)

    assert slept == [0.5, 1.0]


def test_listing_errors_are_retried_like_any_read(cna, advisory, triager, cve_services, settings, monkeypatch):
    cve_services.fail_next(503, count=2, method="GET")

    assert services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    assert len(cve_services.calls("POST")) == 1


# --- a lost answer to a reservation ------------------------------------------------------------------

def lose_the_next_reservation_answer(cve_services, status=502):
    cve_services.fail_next(status, method="POST", path_contains="cve-id", html=True, after_processing=True)


def test_a_lost_answer_once_reserves_exactly_one_id_and_the_advisory_uses_it(cna, advisory, triager, cve_services,
                                                                             caplog):
    lose_the_next_reservation_answer(cve_services)

    with caplog.at_level(logging.WARNING, logger="vulndesk.cve"):
        assignment = services.cve_id_reserve(advisory=advisory, actor=triager)

    advisory.refresh_from_db()
    assert list(cve_services.cve_ids) == ["CVE-2026-10001"]
    assert assignment.cve_id == advisory.cve_id == "CVE-2026-10001"
    assert assignment.state == CveAssignmentState.RESERVED
    assert len(cve_services.calls("POST", "cve-id")) == 1  # never sent again
    listing = cve_services.calls("GET", "cve-id")[-1]["query"]
    assert listing["state"] == "RESERVED" and listing["cve_id_year"] == "2026" and "time_reserved.gt" in listing
    assert AuditEntry.objects.get(action="cve.reserve").data == {
        "cve_id": "CVE-2026-10001", "advisory": advisory.identifier, "found_after_lost_answer": True}
    assert "found=True" in caplog.text
    # The quota CVE Services counts agrees: one ID used.
    assert cve_services._reserved(cve_services.orgs[CNA]) == 1


def test_an_id_our_user_reserved_before_the_attempt_is_not_adopted(cna, advisory, triager, cve_services):
    other_tool = services.client.api_for(cna)
    earlier = other_tool.reserve(1, False, "2026")["cve_ids"][0]["cve_id"]  # e.g. the cvelib CLI, a minute ago
    lose_the_next_reservation_answer(cve_services)

    assignment = services.cve_id_reserve(advisory=advisory, actor=triager)

    assert assignment.cve_id != earlier and assignment.cve_id in cve_services.cve_ids
    assert len(cve_services.cve_ids) == 2
    assert CveAssignment.objects.get().reserve_seen_ids == []  # cleared once the ID is recorded


def test_an_id_another_advisory_holds_is_not_adopted(cna, organisation, advisory, triager, cve_services):
    first = services.cve_id_reserve(advisory=advisory, actor=triager)
    second_advisory = make_advisory(organisation, triager, title="Second", publish=False)
    lose_the_next_reservation_answer(cve_services)

    second = services.cve_id_reserve(advisory=second_advisory, actor=triager)

    assert second.cve_id != first.cve_id and len(cve_services.cve_ids) == 2


def test_the_listing_follows_cve_services_pages(cna, advisory, triager, settings):
    from tests.fakes.cve_services import FakeCveServices

    paged = FakeCveServices(page_size=2).start()
    try:
        paged.add_cna(CNA, user=CNA_USER, api_key=API_KEY, id_quota=20)
        cna.endpoint_url = paged.url
        cna.save()
        api = services.client.api_for(cna)
        api.reserve(5, False, "2026")  # five held already: three pages with ours
        lose_the_next_reservation_answer(paged)

        assignment = services.cve_id_reserve(advisory=advisory, actor=triager)

        assert assignment.cve_id == "CVE-2026-10006" and len(paged.cve_ids) == 6
        assert {r["query"].get("page") for r in paged.calls("GET", "cve-id")} == {None, "2", "3"}
    finally:
        paged.stop()


def test_when_cve_services_cannot_be_asked_the_attempt_stays_recorded_and_the_next_reserve_adopts(
        cna, advisory, triager, cve_services):
    lose_the_next_reservation_answer(cve_services)
    # The listing before the POST works; the three tries of the listing after it fail.
    cve_services.fail_next(503, count=3, method="GET", path_contains="cve-id", skip=1)

    with pytest.raises(client.CveServicesUnavailable, match="could not be asked whether it reserved an ID"):
        services.cve_id_reserve(advisory=advisory, actor=triager)

    row = CveAssignment.objects.get()
    assert row.state == CveAssignmentState.UNCONFIRMED and row.reserve_attempted_at is not None
    advisory.refresh_from_db()
    assert advisory.cve_id == "" and len(cve_services.cve_ids) == 1
    with pytest.raises(Conflict, match="Press Reserve to find out first"):
        services.cve_id_record_elsewhere(advisory=advisory, actor=triager, cve_id="CVE-2026-99999")

    # CVE Services answers again: the next reserve asks first and adopts the ID; nothing new is reserved.
    assignment = services.cve_id_reserve(advisory=advisory, actor=triager)

    assert assignment.cve_id == "CVE-2026-10001" and len(cve_services.cve_ids) == 1
    assert len(cve_services.calls("POST", "cve-id")) == 1


def test_a_request_that_died_after_sending_is_found_when_its_claim_is_taken_over(cna, advisory, triager,
                                                                                cve_services, frozen_clock):
    assignment, _ = services._claim(advisory, triager)
    services._record_attempt(cna, assignment)
    services.client.api_for(cna).reserve(1, False, "2026")  # its POST went through; then the worker died

    frozen_clock.advance(minutes=11)
    taken_over = services.cve_id_reserve(advisory=advisory, actor=triager)

    assert taken_over.cve_id == "CVE-2026-10001" and len(cve_services.cve_ids) == 1
    assert len(cve_services.calls("POST", "cve-id")) == 1


def test_an_unreachable_service_is_a_clear_error(organisation, owner, advisory, triager, cve_services):
    from tests.conftest import _free_port

    services.cna_account_save(organisation=organisation, actor=owner, short_name=CNA, username=CNA_USER,
                              api_key=API_KEY, endpoint_url=f"http://127.0.0.1:{_free_port()}/api/")

    with pytest.raises(client.CveServicesUnavailable, match="Could not connect to CVE Services"):
        services.cve_id_reserve(advisory=advisory, actor=triager)
    assert not CveAssignment.objects.exists()


def test_reserve_refuses_an_advisory_that_already_has_an_id(cna, advisory, triager, cve_services):
    services.cve_id_reserve(advisory=advisory, actor=triager)

    with pytest.raises(Conflict, match="already has CVE-"):
        services.cve_id_reserve(advisory=advisory, actor=triager)
    assert len(cve_services.cve_ids) == 1


def test_a_reservation_in_flight_blocks_a_second_one(cna, advisory, triager, cve_services, frozen_clock):
    services._claim(advisory, triager)  # another request is between its claim and CVE Services' answer

    with pytest.raises(Conflict, match="being reserved"):
        services.cve_id_reserve(advisory=advisory, actor=triager)
    assert cve_services.requests == []

    frozen_clock.advance(minutes=11)  # that request died: its claim is stale
    assert services.cve_id_reserve(advisory=advisory, actor=triager).state == CveAssignmentState.RESERVED


def test_reserve_needs_a_configured_and_enabled_account(organisation, owner, advisory, triager, cve_services):
    with pytest.raises(services.CveServicesNotConfigured, match="not set up"):
        services.cve_id_reserve(advisory=advisory, actor=triager)

    services.cna_account_save(organisation=organisation, actor=owner, endpoint_url=cve_services.url, short_name=CNA,
                              username=CNA_USER, api_key=API_KEY, is_enabled=False)
    with pytest.raises(services.CveServicesNotConfigured, match="switched off"):
        services.cve_id_reserve(advisory=advisory, actor=triager)
    assert cve_services.requests == []


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_only_triage_roles_may_reserve(cna, organisation, advisory, role, cve_services):
    from tests.factories.core import make_member

    with pytest.raises(NotAllowed):
        services.cve_id_reserve(advisory=advisory, actor=make_member(organisation, role=role))
    assert cve_services.requests == []


def test_a_member_of_another_organisation_cannot_reserve(cna, advisory, other_world, cve_services):
    _, stranger, _ = other_world
    with pytest.raises(NotFound):
        services.cve_id_reserve(advisory=advisory, actor=stranger)
    assert cve_services.requests == []


# --- publish and update the record ------------------------------------------------------------------------

def _published_record(cve_services, cve_id):
    return cve_services.records[cve_id]["containers"]["cna"]


def test_reserve_publish_update_round_trip(cna, organisation, advisory, triager, cve_services, frozen_clock):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id

    assignment = services.cve_record_publish(advisory=advisory, actor=triager)

    assert assignment.state == CveAssignmentState.PUBLISHED
    assert cve_services.cve_ids[cve_id]["state"] == "PUBLISHED"
    record = _published_record(cve_services, cve_id)
    assert record["title"] == "SQL injection in search"
    assert record["providerMetadata"]["orgId"] == cve_services.orgs[CNA].uuid
    (affected,) = record["affected"]
    assert (affected["vendor"], affected["product"], affected["packageName"]) == (organisation.name, "acme-web",
                                                                                  "acme-web")
    assert affected["versions"][0] | {"versionType": "any"} == {"version": "0", "status": "affected",
                                                                "lessThan": "2.4.1", "versionType": "any"}
    assert record["problemTypes"][0]["descriptions"][0]["cweId"] == "CWE-89"
    metrics = {key: value for metric in record["metrics"] for key, value in metric.items()}
    assert metrics["cvssV3_1"]["baseScore"] == 9.8
    assert (metrics["cvssV4_0"]["baseScore"], metrics["cvssV4_0"]["baseSeverity"]) == (9.3, "CRITICAL")
    assert "https://acme.example/security/advisories/1" in [r["url"] for r in record["references"]]
    assert record["credits"][0]["value"] == "Jane Doe"
    assert record["x_generator"]["engine"].startswith("vulndesk ")
    assert assignment.last_container["descriptions"] == record["descriptions"]

    # A new published revision, then Update sends it.
    advisory_update(advisory=advisory, actor=triager, title="SQL injection in search and export")
    advisory_transition(advisory=advisory, actor=triager, to="updated", changelog="Export is affected too")
    advisory.refresh_from_db()
    frozen_clock.advance(hours=1)
    assignment = services.cve_record_update(advisory=advisory, actor=triager)

    assert _published_record(cve_services, cve_id)["title"] == "SQL injection in search and export"
    assert cve_services.calls("PUT", f"cve/{cve_id}/cna")
    assert assignment.record_updated_at == frozen_clock.now
    assert [e.action for e in AuditEntry.objects.filter(action__startswith="cve.").order_by("id")] == [
        "cve.account_save", "cve.reserve", "cve.publish", "cve.update"]


def test_the_record_is_built_from_the_published_revision_never_from_unpublished_edits(cna, advisory, triager,
                                                                                         cve_services):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    advisory_update(advisory=advisory, actor=triager, title="UNPUBLISHED-TITLE", summary="UNPUBLISHED-SUMMARY",
                    references=[{"type": "WEB", "url": "https://acme.example/UNPUBLISHED"}])
    advisory.refresh_from_db()

    services.cve_record_publish(advisory=advisory, actor=triager)

    sent = cve_services.calls("POST", f"cve/{cve_id}/cna")[0]["body"]
    assert "UNPUBLISHED" not in str(sent)
    assert sent["cnaContainer"]["title"] == "SQL injection in search"


def test_publishing_the_record_of_an_unpublished_advisory_is_refused(cna, organisation, triager, cve_services):
    draft = make_advisory(organisation, triager, publish=False)
    services.cve_id_reserve(advisory=draft, actor=triager)
    calls = len(cve_services.requests)

    with pytest.raises(Conflict, match="Publish the advisory first"):
        services.cve_record_publish(advisory=draft, actor=triager)
    assert len(cve_services.requests) == calls


def test_publish_retries_server_errors_on_each_call(cna, advisory, triager, cve_services):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    cve_services.fail_next(503, path_contains="/org/")
    cve_services.fail_next(504, path_contains="/cna")

    services.cve_record_publish(advisory=advisory, actor=triager)

    assert cve_id in cve_services.records
    assert len(cve_services.calls("GET", f"org/{CNA}")) == 2
    assert len(cve_services.calls("POST", f"cve/{cve_id}/cna")) == 2


def test_a_lost_answer_to_publish_is_retried_and_the_existing_record_replaced(cna, advisory, triager, cve_services):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    # The record is created, but a gateway loses the answer; the retry then finds it exists.
    cve_services.fail_next(502, html=True, path_contains="/cna", after_processing=True)

    assignment = services.cve_record_publish(advisory=advisory, actor=triager)

    assert assignment.state == CveAssignmentState.PUBLISHED
    assert [c["method"] for c in cve_services.calls(path_contains=f"cve/{cve_id}/cna")] == ["POST", "POST", "PUT"]
    assert cve_services.records[cve_id]["containers"]["cna"]["title"] == "SQL injection in search"


def test_a_record_published_meanwhile_with_another_tool_is_replaced_by_the_advisory(cna, advisory, triager,
                                                                                     cve_services):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    services.cve_record_publish(advisory=advisory, actor=triager)
    cve_services.records[cve_id]["containers"]["cna"]["title"] = "Written elsewhere"
    CveAssignment.objects.update(state=CveAssignmentState.RESERVED)

    services.cve_record_publish(advisory=advisory, actor=triager)

    assert cve_services.records[cve_id]["containers"]["cna"]["title"] == "SQL injection in search"


def test_a_refusal_names_cve_services_error_code(cna, advisory, triager, cve_services):
    cve_services.orgs[CNA].id_quota = 0
    with pytest.raises(client.CveQuotaExceeded) as raised:
        services.cve_id_reserve(advisory=advisory, actor=triager)
    assert raised.value.service_code == "EXCEEDED_ID_QUOTA"


def test_an_id_owned_by_another_cna_is_refused_with_cve_services_reason(cna, advisory, triager, cve_services):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    cve_services.cve_ids[cve_id]["owning_cna"] = "someone-else"

    with pytest.raises(client.CveServicesRefused, match="HTTP 403.*ORG_DOES_NOT_OWN_ID"):
        services.cve_record_publish(advisory=advisory, actor=triager)
    assert CveAssignment.objects.get().state == CveAssignmentState.RESERVED


def test_update_of_a_record_cve_services_does_not_have_is_a_clear_error(cna, advisory, triager, cve_services):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    services.cve_record_publish(advisory=advisory, actor=triager)
    del cve_services.records[cve_id]

    with pytest.raises(client.CveServicesRefused, match="CVE_RECORD_DNE"):
        services.cve_record_update(advisory=advisory, actor=triager)


def test_an_id_cve_services_does_not_know_is_a_clear_error(cna, advisory, triager, cve_services):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    del cve_services.cve_ids[cve_id]

    with pytest.raises(client.CveServicesRefused, match="CVEID_DNE"):
        services.cve_record_publish(advisory=advisory, actor=triager)


def test_publish_refuses_an_id_assigned_elsewhere(cna, advisory, triager, cve_services):
    services.cve_id_record_elsewhere(advisory=advisory, actor=triager, cve_id="CVE-2025-31337")

    with pytest.raises(Conflict, match="assigned by another CNA"):
        services.cve_record_publish(advisory=advisory, actor=triager)
    assert cve_services.requests == []


def test_publish_refuses_when_the_advisory_id_was_changed_by_hand(cna, advisory, triager, cve_services):
    services.cve_id_reserve(advisory=advisory, actor=triager)
    advisory_update(advisory=advisory, actor=triager, cve_id="CVE-2020-1234")

    with pytest.raises(Conflict, match="changed by hand"):
        services.cve_record_publish(advisory=advisory, actor=triager)


def test_connection_check_reports_the_organisation_and_quota(cna, organisation, owner, cve_services):
    check = services.cna_account_check(organisation=organisation, actor=owner)

    assert (check.organisation_name, check.id_quota, check.available) == ("ACME Corporation", 5, 5)
    assert CnaAccount.objects.get().remaining_quota == 5


# --- assigned elsewhere ------------------------------------------------------------------------------------

def test_an_id_assigned_elsewhere_is_recorded_without_calling_cve_services(advisory, triager, cve_services,
                                                                           frozen_clock):
    assignment = services.cve_id_record_elsewhere(advisory=advisory, actor=triager, cve_id=" cve-2025-0007 ")

    advisory.refresh_from_db()
    assert advisory.cve_id == assignment.cve_id == "CVE-2025-0007"
    assert assignment.state == CveAssignmentState.ELSEWHERE
    assert cve_services.requests == []
    assert AuditEntry.objects.get(action="cve.record_elsewhere").data["cve_id"] == "CVE-2025-0007"


@pytest.mark.parametrize("value", [
    "CVE-2026-123",                      # too few digits
    "CVE-2026-01234",                    # leading zero in a 5+ digit number
    "CVE-26-1234",
    "CVE-2026-1234\nX-Injected: 1",      # a header-injection attempt
    "CVE-2026-12 34",                    # a space inside (spaces around are trimmed on purpose)
    "CVE-2026-1234<script>",
    "<script>alert(1)</script>",
    "CVE-2026-1234' OR '1'='1",
    "CVE-2026-１２３４",                    # full-width digits
    "CVE-2026-١٢٣٤",                     # Arabic-Indic digits
    "CVE\u20102026\u20101234",           # Unicode hyphens
    "CVE-1998-1234",                     # before CVE existed
    "CVE-2099-1234",                     # far future
    "CVE-2026-123456789012",             # longer than the field
    "GHSA-xxxx-yyyy-zzzz",
    "",
])
def test_hostile_or_malformed_ids_are_refused(advisory, triager, value, frozen_clock):
    with pytest.raises(DomainError):
        services.cve_id_record_elsewhere(advisory=advisory, actor=triager, cve_id=value)
    advisory.refresh_from_db()
    assert advisory.cve_id == ""


def test_an_id_reserved_by_us_cannot_be_replaced_by_one_assigned_elsewhere(cna, advisory, triager, cve_services):
    services.cve_id_reserve(advisory=advisory, actor=triager)

    with pytest.raises(Conflict, match="reserved through CVE Services"):
        services.cve_id_record_elsewhere(advisory=advisory, actor=triager, cve_id="CVE-2025-0007")


# --- the key at rest and in logs ---------------------------------------------------------------------------

def test_the_api_key_is_stored_encrypted_and_bound_to_its_row(cna, organisation, other_world):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM cve_cnaaccount")
        rows = cursor.fetchall()
    assert API_KEY not in repr(rows)
    assert cna.sealed_credentials.startswith(keys.ENVELOPE_PREFIX)
    assert CnaAccount.objects.get(pk=cna.pk).api_key == API_KEY

    # The envelope does not open for another organisation's row (AAD and key are bound to ours).
    other_organisation, _, _ = other_world
    keys.current_key_version(other_organisation.pk)  # the other organisation has its own data key
    stolen = CnaAccount(organisation=other_organisation, endpoint_url="https://cveawg.mitre.org/api/",
                        short_name="other", username="x@example.org", sealed_credentials=cna.sealed_credentials,
                        created_at=cna.created_at, updated_at=cna.updated_at)
    with pytest.raises(crypto.DecryptionFailed):
        stolen.api_key  # noqa: B018


def test_an_empty_key_keeps_the_stored_one_and_a_new_key_replaces_it(cna, organisation, owner, cve_services):
    services.cna_account_save(organisation=organisation, actor=owner, endpoint_url=cve_services.url,
                              short_name=CNA, username=CNA_USER, api_key="")
    assert CnaAccount.objects.get().api_key == API_KEY

    services.cna_account_save(organisation=organisation, actor=owner, endpoint_url=cve_services.url,
                              short_name=CNA, username=CNA_USER, api_key="a-new-key-0123456")
    assert CnaAccount.objects.get().api_key == "a-new-key-0123456"
    saves = [e.data for e in AuditEntry.objects.filter(action="cve.account_save").order_by("id")]
    assert [s["api_key_replaced"] for s in saves] == [True, False, True]
    assert API_KEY not in repr(saves) and "a-new-key-0123456" not in repr(saves)


def test_key_rotation_re_seals_the_api_key(cna, organisation):
    assert CnaAccount in SEALED_MODELS  # registered in CveConfig.ready(), so rotation walks it
    before = CnaAccount.objects.get().sealed_credentials
    current = keys.organisation_key_create(organisation_id=organisation.pk).version

    stale = list(rotation._stale(CnaAccount, organisation.pk, current))  # what reseal_pass re-seals
    assert stale == [cna]
    stale[0].reseal_all()
    stale[0].save(update_fields=[])

    keys.forget_cached_keys()
    after = CnaAccount.objects.get()
    assert keys.envelope_version(after.sealed_credentials) == keys.envelope_version(before) + 1 == current
    assert after.api_key == API_KEY


def test_the_api_key_never_reaches_logs_audit_or_error_messages(cna, advisory, triager, cve_services, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 and requests log at DEBUG too
    messages = []
    cve_services.fail_next(500, count=1)
    services.cve_id_reserve(advisory=advisory, actor=triager)
    cve_services.fail_next(500, count=3)
    try:
        services.cve_record_publish(advisory=advisory, actor=triager)
    except DomainError as error:
        messages.append(error.message)
    cve_services.orgs[CNA].users[CNA_USER] = "rotated-elsewhere"
    try:
        services.cve_record_publish(advisory=advisory, actor=triager)
    except DomainError as error:
        messages.append(error.message)

    assert len(messages) == 2
    assert caplog.records
    assert API_KEY not in caplog.text
    assert API_KEY not in " ".join(messages)
    assert API_KEY not in repr(list(AuditEntry.objects.values_list("data", flat=True)))


def test_settings_roles_only_may_change_the_account(organisation, triager, cve_services):
    with pytest.raises(NotAllowed):
        services.cna_account_save(organisation=organisation, actor=triager, endpoint_url=cve_services.url,
                                  short_name=CNA, username=CNA_USER, api_key=API_KEY)
    assert not CnaAccount.objects.exists()


def test_a_security_manager_may_change_the_account(organisation, cve_services):
    from tests.factories.core import make_member

    manager = make_member(organisation, role="security_manager")
    account = services.cna_account_save(organisation=organisation, actor=manager, endpoint_url=cve_services.url,
                                        short_name=CNA, username=CNA_USER, api_key=API_KEY)
    assert account.pk


def test_the_first_save_needs_a_key(organisation, owner, cve_services):
    with pytest.raises(DomainError, match="API key") as raised:
        services.cna_account_save(organisation=organisation, actor=owner, endpoint_url=cve_services.url,
                                  short_name=CNA, username=CNA_USER, api_key="")
    assert raised.value.field == "api_key"

