"""The CVE record follows its advisory, against CVE Services on loopback: a new revision updates a
record published from here, a withdrawal rejects the CVE ID (POST or PUT .../reject), after the
commit, through the queued task; failures that may pass are tried again by the sweep after a
pause, refusals stop at once, and the CVE panel shows all of it."""

from datetime import timedelta

import pytest
from django.urls import reverse

from tests.factories.core import make_member, verified_login
from vulndesk.advisories.services import advisory_transition, advisory_update, advisory_withdraw
from vulndesk.audit.models import AuditEntry
from vulndesk.core.errors import Conflict, NotAllowed
from vulndesk.cve import follow, services
from vulndesk.cve.models import CveAssignment, CveAssignmentState
from vulndesk.cve.tasks import cve_records_follow_sweep

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what a change queues after its commit, as a real request would."""
    def run(change, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return change(*args, **kwargs)
    return run


@pytest.fixture
def published(cna, advisory, triager, cve_services):
    """The advisory with a CVE ID whose record was published from here."""
    services.cve_id_reserve(advisory=advisory, actor=triager)
    services.cve_record_publish(advisory=advisory, actor=triager)
    advisory.refresh_from_db()
    return advisory


def new_revision(after_commit, advisory, actor, title="SQL injection in search and export"):
    advisory_update(advisory=advisory, actor=actor, title=title)
    return after_commit(advisory_transition, advisory=advisory, actor=actor, to="updated",
                        changelog="Export is affected too")


def assignment_of(advisory) -> CveAssignment:
    return CveAssignment.objects.get(advisory=advisory)


def panel(client, organisation, advisory) -> str:
    url = reverse("cve:panel", kwargs={"organisation": organisation.slug, "identifier": advisory.identifier})
    return client.get(url).content.decode()


# --- a new revision -------------------------------------------------------------------------------

def test_a_new_revision_updates_the_published_record_once_committed(published, triager, cve_services, after_commit):
    new_revision(after_commit, published, triager)

    (put,) = cve_services.calls("PUT", "/cna")
    assert put["body"]["cnaContainer"]["title"] == "SQL injection in search and export"
    record = cve_services.records[published.cve_id]
    assert record["containers"]["cna"]["title"] == "SQL injection in search and export"
    row = assignment_of(published)
    assert (row.follow_state, row.record_revision, row.follow_error) == ("", 2, "")
    entry = AuditEntry.objects.filter(action="cve.update").get()
    assert entry.actor_id is None and entry.data["automatic"] is True and entry.data["revision"] == 2


def test_nothing_is_sent_before_the_commit(published, triager, cve_services):
    advisory_update(advisory=published, actor=triager, title="Changed")
    advisory_transition(advisory=published, actor=triager, to="updated", changelog="x")  # never committed here

    assert cve_services.calls("PUT") == []
    assert assignment_of(published).follow_state == ""


def test_a_reserved_id_without_a_record_is_left_for_a_person_to_publish(cna, advisory, triager, cve_services,
                                                                       after_commit):
    services.cve_id_reserve(advisory=advisory, actor=triager)

    new_revision(after_commit, advisory, triager)

    assert cve_services.calls("POST", "/cna") == [] and cve_services.calls("PUT") == []
    assert assignment_of(advisory).follow_state == ""


def test_a_failed_update_is_tried_again_by_the_sweep_after_a_pause(published, triager, cve_services, after_commit,
                                                                   frozen_clock, client, organisation):
    cve_services.fail_next(503, count=3, method="PUT", path_contains="/cna")  # every try of the first attempt

    new_revision(after_commit, published, triager)

    row = assignment_of(published)
    assert (row.follow_state, row.follow_attempts) == ("pending", 1)
    assert row.follow_due_at == frozen_clock.now + timedelta(minutes=1)
    assert "HTTP 503" in row.follow_error
    html = panel(verified_login(client, triager.user), organisation, published)
    assert "Updating the CVE record from revision 2: queued, try 2 at" in html and "HTTP 503" in html

    assert cve_records_follow_sweep.call() == 0  # the pause is not over
    frozen_clock.advance(minutes=1)
    assert cve_records_follow_sweep.call() == 1

    row = assignment_of(published)
    assert (row.follow_state, row.record_revision) == ("", 2)
    assert cve_services.records[published.cve_id]["containers"]["cna"]["title"].endswith("and export")


def test_after_the_last_attempt_it_fails_and_the_panel_offers_the_update_button(published, triager, cve_services,
                                                                                after_commit, frozen_clock, client,
                                                                                organisation):
    cve_services.fail_next(500, count=3 * follow.FOLLOW_MAX_ATTEMPTS, method="PUT")
    new_revision(after_commit, published, triager)
    for _ in range(follow.FOLLOW_MAX_ATTEMPTS - 1):
        frozen_clock.advance(hours=5)
        cve_records_follow_sweep.call()

    row = assignment_of(published)
    assert (row.follow_state, row.follow_attempts) == ("failed", follow.FOLLOW_MAX_ATTEMPTS)
    frozen_clock.advance(days=1)
    assert cve_records_follow_sweep.call() == 0  # a failure waits for a person
    staff = verified_login(client, triager.user)
    html = panel(staff, organisation, published)
    assert f"failed after {follow.FOLLOW_MAX_ATTEMPTS} tries" in html and "Update the CVE record" in html

    url = reverse("cve:update", kwargs={"organisation": organisation.slug, "identifier": published.identifier})
    assert staff.post(url, **HTMX).status_code == 200
    assert assignment_of(published).follow_state == ""


def test_a_refusal_fails_at_once_with_cve_services_reason(published, triager, cve_services, after_commit):
    cve_services.cve_ids[published.cve_id]["owning_cna"] = "someone-else"

    new_revision(after_commit, published, triager)

    row = assignment_of(published)
    assert (row.follow_state, row.follow_attempts) == ("failed", 1)
    assert "ORG_DOES_NOT_OWN_ID" in row.follow_error


def test_running_the_task_twice_sends_once(published, triager, cve_services, django_capture_on_commit_callbacks):
    advisory_update(advisory=published, actor=triager, title="Once only")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        advisory_transition(advisory=published, actor=triager, to="updated", changelog="x")
    for callback in queued:
        callback()

    assert follow.cve_record_follow(advisory_id=published.pk) == "nothing"
    assert len(cve_services.calls("PUT", "/cna")) == 1


def test_a_worker_holding_the_row_keeps_a_second_one_away(published, triager, frozen_clock):
    follow.cve_record_follow_request(advisory_id=published.pk, revision=2, action="update")

    assert follow._take(published.pk) is not None
    assert follow._take(published.pk) is None
    frozen_clock.advance(minutes=11)  # that worker died: its lease ran out
    assert follow.cve_records_follow_due() == [published.pk]


# --- withdrawal -----------------------------------------------------------------------------------

def test_withdrawing_rejects_a_published_record_with_the_published_reason(published, triager, cve_services,
                                                                          after_commit, client, organisation):
    after_commit(advisory_withdraw, advisory=published, actor=triager, reason="Not exploitable <b>after all</b>")

    (put,) = cve_services.calls("PUT", "/reject")
    reasons = put["body"]["cnaContainer"]["rejectedReasons"]
    assert reasons[0]["lang"] == "en" and published.identifier in reasons[0]["value"]
    assert "Not exploitable <b>after all</b>" in reasons[0]["value"]
    assert cve_services.records[published.cve_id]["cveMetadata"]["state"] == "REJECTED"
    row = assignment_of(published)
    assert (row.state, row.follow_state) == (CveAssignmentState.REJECTED, "")
    assert AuditEntry.objects.filter(action="cve.reject").get().data["automatic"] is True
    html = panel(verified_login(client, triager.user), organisation, published)
    assert "rejected at CVE Services" in html and "<b>after all" not in html


def test_withdrawing_rejects_a_reserved_id_that_has_no_record(cna, advisory, triager, cve_services, after_commit):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id

    after_commit(advisory_withdraw, advisory=advisory, actor=triager, reason="Duplicate of another advisory")

    assert len(cve_services.calls("POST", "/reject")) == 1 and cve_services.calls("PUT") == []
    assert cve_services.cve_ids[cve_id]["state"] == "REJECTED"
    assert assignment_of(advisory).state == CveAssignmentState.REJECTED


def test_a_lost_answer_to_the_reject_ends_in_one_rejected_record(cna, advisory, triager, cve_services, after_commit):
    cve_id = services.cve_id_reserve(advisory=advisory, actor=triager).cve_id
    cve_services.fail_next(502, method="POST", path_contains="/reject", html=True, after_processing=True)

    after_commit(advisory_withdraw, advisory=advisory, actor=triager, reason="Duplicate")

    # The retried POST finds the record its lost twin made, and replaces it instead.
    assert [c["method"] for c in cve_services.calls(path_contains="/reject")] == ["POST", "POST", "PUT"]
    assert cve_services.records[cve_id]["cveMetadata"]["state"] == "REJECTED"
    assert assignment_of(advisory).state == CveAssignmentState.REJECTED


def test_an_id_assigned_elsewhere_is_never_rejected_by_us(advisory, triager, cve_services, after_commit):
    services.cve_id_record_elsewhere(advisory=advisory, actor=triager, cve_id="CVE-2026-44444")

    after_commit(advisory_withdraw, advisory=advisory, actor=triager, reason="Wrong product")

    assert cve_services.requests == []
    assert assignment_of(advisory).state == CveAssignmentState.ELSEWHERE


def test_a_late_update_does_not_replace_a_pending_reject(published, triager):
    follow.cve_record_follow_request(advisory_id=published.pk, revision=3, action="reject")

    assert follow.cve_record_follow_request(advisory_id=published.pk, revision=2, action="update") is False
    assert assignment_of(published).follow_action == "reject"


# --- rejecting by hand -------------------------------------------------------------------------------

def reject_url(organisation, advisory):
    return reverse("cve:reject", kwargs={"organisation": organisation.slug, "identifier": advisory.identifier})


def test_the_panel_offers_a_confirmed_reject_and_it_works_through_htmx(published, triager, cve_services, client,
                                                                       organisation):
    advisory_withdraw(advisory=published, actor=triager, reason="Not a vulnerability")  # nothing queued: no commit
    staff = verified_login(client, triager.user)

    html = panel(staff, organisation, published)
    assert 'data-confirm="Reject ' + published.cve_id in html and "Reject the CVE ID" in html

    response = staff.post(reject_url(organisation, published), **HTMX)

    assert response.status_code == 200
    assert f"{published.cve_id} is rejected at CVE Services." in response.content.decode()
    assert assignment_of(published).state == CveAssignmentState.REJECTED
    entry = AuditEntry.objects.filter(action="cve.reject").get()
    assert entry.actor_id == triager.user_id and entry.data["automatic"] is False


def test_reject_is_refused_for_an_advisory_that_is_not_withdrawn(published, triager, cve_services):
    with pytest.raises(Conflict, match="withdrawn advisory"):
        follow.cve_id_reject(advisory=published, actor=triager)
    assert cve_services.calls(path_contains="/reject") == []


def test_reject_is_refused_to_readers_and_other_organisations(published, organisation, triager, other_world):
    viewer = make_member(organisation, role="viewer")
    advisory_withdraw(advisory=published, actor=triager, reason="x")

    with pytest.raises(NotAllowed):
        follow.cve_id_reject(advisory=published, actor=viewer)
    from vulndesk.core.errors import NotFound
    with pytest.raises(NotFound):
        follow.cve_id_reject(advisory=published, actor=other_world[1])
    assert assignment_of(published).state == CveAssignmentState.PUBLISHED


def test_a_plain_reject_post_with_an_error_flashes_it_on_the_advisory_page(cna, advisory, triager, client,
                                                                          organisation, cve_services):
    staff = verified_login(client, triager.user)

    response = staff.post(reject_url(organisation, advisory), {"cve_id": "<script>", "x": "' OR 1=1"}, follow=True)

    assert response.status_code == 200
    assert "no CVE ID of your CNA to reject" in response.content.decode()
    assert "<script>" not in response.content.decode()
