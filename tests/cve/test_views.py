"""The CNA settings page and the advisory's CVE panel: roles, tenant isolation, no key echo,
htmx fragments and the plain POST-and-redirect path."""

import pytest
from django.urls import reverse

from tests.cve.conftest import API_KEY, CNA, CNA_USER
from tests.factories.core import make_member, verified_login
from vulndesk.cve.models import CnaAccount, CveAssignment

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, organisation, advisory=None):
    kwargs = {"organisation": organisation.slug}
    if advisory is not None:
        kwargs["identifier"] = advisory.identifier
    return reverse(f"cve:{name}", kwargs=kwargs)


def login(client, organisation, role):
    return verified_login(client, make_member(organisation, role=role).user)


def settings_data(cve_services, **fields):
    return {"endpoint_url": cve_services.url, "short_name": CNA, "username": CNA_USER, "api_key": API_KEY,
            "is_enabled": "on"} | fields


# --- settings ----------------------------------------------------------------------------------------------

def test_an_owner_sets_up_the_account_and_the_page_never_shows_the_key(client, organisation, owner, cve_services):
    verified_login(client, owner.user)

    response = client.post(url("settings_save", organisation), settings_data(cve_services))
    assert response.status_code == 302
    account = CnaAccount.objects.get(organisation=organisation)
    assert (account.short_name, account.username, account.endpoint_url) == (CNA, CNA_USER, cve_services.url)

    assert tuple(response.wsgi_request.sensitive_post_parameters) == ("api_key",)  # hidden from error reports
    page = client.get(url("settings", organisation))
    assert page.status_code == 200
    assert API_KEY.encode() not in page.content
    assert b"Stored: <strong>set</strong>" in page.content
    assert page["Cache-Control"] == "no-store"


def test_a_form_error_does_not_echo_the_typed_key(client, organisation, owner, cve_services):
    verified_login(client, owner.user)

    response = client.post(url("settings_save", organisation),
                           settings_data(cve_services, endpoint_url="http://cve.example.org/api/"))

    assert response.status_code == 422
    assert b"must be reached over https" in response.content
    assert API_KEY.encode() not in response.content
    assert not CnaAccount.objects.exists()


def test_saving_without_a_key_keeps_the_stored_one(client, organisation, owner, cna, cve_services):
    verified_login(client, owner.user)

    response = client.post(url("settings_save", organisation), settings_data(cve_services, api_key="",
                                                                             short_name="acme-new"))

    assert response.status_code == 302
    account = CnaAccount.objects.get()
    assert (account.short_name, account.api_key) == ("acme-new", API_KEY)


def test_the_connection_check_says_who_we_are(client, organisation, owner, cna, cve_services):
    verified_login(client, owner.user)

    response = client.post(url("settings_check", organisation), follow=True)

    assert b"Connected to CVE Services as ACME Corporation. 5 of 5 CVE IDs can be reserved." in response.content


def test_the_connection_check_shows_a_credentials_error(client, organisation, owner, cna, cve_services):
    verified_login(client, owner.user)
    cve_services.orgs[CNA].users[CNA_USER] = "revoked"

    response = client.post(url("settings_check", organisation), follow=True)

    assert b"did not accept the credentials (HTTP 401)" in response.content


@pytest.mark.parametrize("role", ["triager", "developer", "viewer"])
def test_only_owners_and_security_managers_reach_the_settings(client, organisation, role, cve_services):
    login(client, organisation, role)

    assert client.get(url("settings", organisation)).status_code == 403
    assert client.post(url("settings_save", organisation), settings_data(cve_services)).status_code == 403
    assert client.post(url("settings_check", organisation)).status_code == 403
    assert not CnaAccount.objects.exists()


def test_a_security_manager_reaches_the_settings(client, organisation):
    login(client, organisation, "security_manager")
    assert client.get(url("settings", organisation)).status_code == 200


# --- the panel ---------------------------------------------------------------------------------------------

def test_a_triager_reserves_through_htmx_and_gets_the_panel_back(client, organisation, staff_client, cna, advisory,
                                                                  cve_services, frozen_clock):
    response = staff_client.post(url("reserve", organisation, advisory), **HTMX)

    assert response.status_code == 200
    assert b'id="cve-panel"' in response.content and b"<html" not in response.content
    assert b"CVE-2026-10001 reserved for this advisory." in response.content
    assert b"Publish the CVE record" in response.content
    assert b"The public advisory lists CVE-2026-10001 from its next published revision." in response.content
    advisory.refresh_from_db()
    assert advisory.cve_id == "CVE-2026-10001"


def test_a_plain_post_redirects_to_the_advisory_page(client, organisation, staff_client, cna, advisory, cve_services):
    response = staff_client.post(url("reserve", organisation, advisory))

    assert response.status_code == 302
    assert response.url == reverse("advisories:detail", kwargs={"organisation": organisation.slug,
                                                                "identifier": advisory.identifier})


def test_an_error_from_cve_services_is_shown_in_the_panel_with_422(client, organisation, staff_client, cna, advisory,
                                                                   cve_services):
    cve_services.orgs[CNA].id_quota = 0

    response = staff_client.post(url("reserve", organisation, advisory), **HTMX)

    assert response.status_code == 422
    assert b"quota is used up" in response.content
    assert not CveAssignment.objects.exists()


def test_a_plain_post_error_is_flashed_on_the_advisory_page(client, organisation, staff_client, cna, advisory,
                                                            cve_services):
    cve_services.fail_next(503, count=3)

    response = staff_client.post(url("reserve", organisation, advisory))

    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("3 times in a row" in m for m in messages)


def test_publish_and_update_from_the_panel(client, organisation, staff_client, cna, advisory, cve_services):
    staff_client.post(url("reserve", organisation, advisory), **HTMX)

    published = staff_client.post(url("publish", organisation, advisory), **HTMX)
    assert published.status_code == 200
    assert b"is published" in published.content and b"Update the CVE record" in published.content

    updated = staff_client.post(url("update", organisation, advisory), **HTMX)
    assert updated.status_code == 200 and b"is updated" in updated.content
    assert len(cve_services.records) == 1


def test_recording_an_id_assigned_elsewhere(client, organisation, staff_client, advisory, cve_services):
    response = staff_client.post(url("record_elsewhere", organisation, advisory), {"cve_id": "CVE-2025-4242"}, **HTMX)

    assert response.status_code == 200
    assert b"CVE-2025-4242" in response.content and b"assigned by another CNA" in response.content
    assert cve_services.requests == []


@pytest.mark.parametrize("value", ["<script>alert(1)</script>", "CVE-2026-1234\"><img src=x onerror=alert(1)>",
                                   "CVE-2026-١٢٣٤", "CVE-2026-123"])
def test_a_hostile_id_is_refused_and_shown_back_escaped(client, organisation, staff_client, advisory, value):
    response = staff_client.post(url("record_elsewhere", organisation, advisory), {"cve_id": value}, **HTMX)

    assert response.status_code == 422
    assert b"A CVE ID looks like CVE-2026-12345" in response.content
    assert b"<script>alert" not in response.content and b"<img src=x" not in response.content
    advisory.refresh_from_db()
    assert advisory.cve_id == ""


def test_the_panel_without_an_account_tells_the_triager_to_ask_for_set_up(client, organisation, staff_client,
                                                                          advisory):
    response = staff_client.get(url("panel", organisation, advisory))

    assert response.status_code == 200
    assert b"not set up" in response.content and b"Reserve a CVE ID" not in response.content
    assert b"Record an ID assigned elsewhere" in response.content


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_readers_see_the_panel_without_actions_and_cannot_act(client, organisation, role, cna, advisory,
                                                              cve_services):
    login(client, organisation, role)

    panel = client.get(url("panel", organisation, advisory))
    assert panel.status_code == 200
    assert b"No CVE ID yet" in panel.content and b"<form" not in panel.content
    for name in ("reserve", "publish", "update"):
        assert client.post(url(name, organisation, advisory), **HTMX).status_code == 403
    assert client.post(url("record_elsewhere", organisation, advisory), {"cve_id": "CVE-2025-4242"}).status_code == 403
    assert cve_services.requests == []
    assert not CveAssignment.objects.exists()


def test_the_panel_costs_a_bounded_number_of_queries(client, organisation, staff_client, cna, advisory,
                                                     django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        assert staff_client.get(url("panel", organisation, advisory)).status_code == 200


def test_the_advisory_page_includes_the_panel(client, organisation, staff_client, cna, advisory):
    page = staff_client.get(reverse("advisories:detail", kwargs={"organisation": organisation.slug,
                                                                 "identifier": advisory.identifier}))

    assert page.status_code == 200
    assert b'id="cve-panel"' in page.content and b"Reserve a CVE ID" in page.content


# --- tenant isolation --------------------------------------------------------------------------------------

ADVISORY_URLS = [("panel", "GET"), ("reserve", "POST"), ("publish", "POST"), ("update", "POST"),
                 ("record_elsewhere", "POST")]


@pytest.mark.parametrize(("name", "method"), ADVISORY_URLS)
def test_a_member_of_another_organisation_gets_404_for_every_cve_url(client, organisation, cna, advisory, other_world,
                                                                     cve_services, name, method):
    other_organisation, stranger, _ = other_world
    verified_login(client, stranger.user)
    send = client.get if method == "GET" else client.post

    with_their_slug = send(url(name, organisation, advisory), {"cve_id": "CVE-2025-4242"}, **HTMX)
    with_own_slug = send(url(name, other_organisation, advisory), {"cve_id": "CVE-2025-4242"}, **HTMX)

    assert with_their_slug.status_code == 404
    assert with_own_slug.status_code == 404  # the identifier is organisation A's
    assert advisory.identifier.encode() not in with_own_slug.content
    advisory.refresh_from_db()
    assert advisory.cve_id == ""
    assert cve_services.requests == []


@pytest.mark.parametrize(("name", "method"), [("settings", "GET"), ("settings_save", "POST"),
                                              ("settings_check", "POST")])
def test_another_organisations_settings_are_404(client, organisation, cna, other_world, cve_services, name, method):
    _, stranger, _ = other_world
    verified_login(client, stranger.user)
    send = client.get if method == "GET" else client.post

    response = send(url(name, organisation), settings_data(cve_services, short_name="hijack"))

    assert response.status_code == 404
    assert CnaAccount.objects.get().short_name == CNA
    assert cve_services.requests == []


def test_anonymous_visitors_are_sent_to_log_in(client, organisation, advisory):
    response = client.post(url("reserve", organisation, advisory))
    assert response.status_code == 302 and reverse("accounts:login") in response.url


def test_the_panel_shows_a_reservation_in_flight_without_actions(client, organisation, staff_client, triager, cna,
                                                                 advisory):
    from vulndesk.cve.services import _claim

    _claim(advisory, triager)

    panel = staff_client.get(url("panel", organisation, advisory))
    assert b"A CVE ID is being reserved" in panel.content
    assert b"Reserve a CVE ID" not in panel.content and b"Record an ID assigned elsewhere" not in panel.content


def test_the_panel_warns_when_the_id_was_changed_by_hand_and_offers_no_publish(client, organisation, staff_client,
                                                                               triager, cna, advisory, cve_services,
                                                                               frozen_clock):
    from vulndesk.advisories.services import advisory_update

    staff_client.post(url("reserve", organisation, advisory), **HTMX)
    advisory.refresh_from_db()
    advisory_update(advisory=advisory, actor=triager, cve_id="CVE-2020-1234")

    panel = staff_client.get(url("panel", organisation, advisory))
    assert b"says CVE-2020-1234, but CVE-2026-" in panel.content
    assert b"Publish the CVE record" not in panel.content


def test_an_unconfirmed_reservation_is_shown_and_check_and_reserve_adopts_its_id(client, organisation, staff_client,
                                                                                cna, advisory, cve_services):
    cve_services.fail_next(502, method="POST", path_contains="cve-id", html=True, after_processing=True)
    cve_services.fail_next(503, count=3, method="GET", path_contains="cve-id", skip=1)

    failed = staff_client.post(url("reserve", organisation, advisory), **HTMX)

    assert failed.status_code == 422
    assert b"could not be asked whether it reserved an ID" in failed.content
    assert b"CVE Services did not confirm the last reservation" in failed.content
    assert b"Check and reserve" in failed.content
    assert b"Record an ID assigned elsewhere" not in failed.content

    adopted = staff_client.post(url("reserve", organisation, advisory), **HTMX)

    assert adopted.status_code == 200 and b"CVE-2026-10001 reserved for this advisory." in adopted.content
    assert list(cve_services.cve_ids) == ["CVE-2026-10001"]
