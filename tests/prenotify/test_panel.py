"""The advisory's pre-notification panel: recipients, sent time, expiry, who viewed, revoke and
send. Triage roles only; another organisation's members get 404 for everything."""

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from tests.factories.core import make_member, make_organisation, verified_login
from tests.prenotify.conftest import embargo_url, link_token
from vulndesk.advisories.services import advisory_create, advisory_update
from vulndesk.audit.models import AuditEntry
from vulndesk.prenotify.models import PreNotification
from vulndesk.prenotify.services import contact_add

TRIAGE = ["owner", "security_manager", "triager"]
NOT_TRIAGE = ["developer", "viewer", "ci_uploader"]


def panel_url(advisory, organisation=None):
    return reverse("prenotify:advisory", kwargs={"organisation": (organisation or advisory.organisation).slug,
                                                 "identifier": advisory.identifier})


def send_url(advisory, organisation=None):
    return reverse("prenotify:send", kwargs={"organisation": (organisation or advisory.organisation).slug,
                                             "identifier": advisory.identifier})


def revoke_url(advisory, row, organisation=None):
    return reverse("prenotify:revoke", kwargs={"organisation": (organisation or advisory.organisation).slug,
                                               "identifier": advisory.identifier, "prenotification_id": row.pk})


def test_the_panel_lists_recipients_sent_time_expiry_and_who_viewed(advisory, vendor, cert, send, client,
                                                                    frozen_clock, staff_client):
    tokens = send(advisory, vendor, cert)
    frozen_clock.advance(hours=1)
    client.post(embargo_url(tokens[vendor.pk]), REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Thunderbird/128")
    frozen_clock.advance(hours=1)
    client.post(embargo_url(tokens[vendor.pk]), REMOTE_ADDR="203.0.113.8", HTTP_USER_AGENT="Firefox/140")

    text = staff_client.get(panel_url(advisory)).content.decode()

    assert "Debian Security Team" in text and "team@security.debian.example" in text and "CERT-EU" in text
    assert "Mon 23 Nov 2026, 10:00 CET" in text  # sent, in the organisation's zone
    assert "Mon 30 Nov 2026, 10:00 CET" in text  # expires with the embargo
    assert "2 views</strong>, last Mon 23 Nov 2026, 12:00 CET" in text
    assert "203.0.113.7" in text and "203.0.113.8" in text and "Firefox/140" in text
    assert "not viewed yet" in text  # CERT-EU
    assert text.count(">Revoke<span class=\"visually-hidden\">") == 2


def test_sending_from_the_panel_mails_each_chosen_contact(advisory, vendor, cert, staff_client, smtp_sink):
    response = staff_client.post(send_url(advisory), {"contacts": [vendor.pk, cert.pk]})

    assert response.status_code == 302
    received = smtp_sink.wait_for(2)
    assert sorted(m["to"][0] for m in received) == ["services@cert.europa.example", "team@security.debian.example"]
    assert PreNotification.objects.filter(sent_at__isnull=False).count() == 2
    assert AuditEntry.objects.filter(action="prenotify.send").count() == 2


def test_a_chosen_expiry_is_read_in_the_organisations_zone(advisory, vendor, staff_client, smtp_sink):
    staff_client.post(send_url(advisory), {"contacts": [vendor.pk], "expires_at": "2026-11-25T10:00"})

    row = PreNotification.objects.get()
    assert row.expires_at.isoformat() == "2026-11-25T09:00:00+00:00"  # 10:00 in Oslo is 09:00 UTC
    assert "Wed 25 Nov 2026, 09:00 UTC" in smtp_sink.wait_for(1)[0]["message"].get_content()


def test_an_expiry_after_the_embargo_is_refused_in_place(advisory, vendor, staff_client, smtp_sink):
    response = staff_client.post(send_url(advisory), {"contacts": [vendor.pk], "expires_at": "2026-12-24T10:00"})

    assert response.status_code == 422
    assert b"A link cannot outlive the embargo" in response.content
    assert not PreNotification.objects.exists() and smtp_sink.messages == []


def test_sending_without_a_contact_chosen_is_refused_in_place(advisory, vendor, staff_client, smtp_sink):
    response = staff_client.post(send_url(advisory), {})

    assert response.status_code == 422 and b"Choose at least one contact." in response.content
    assert smtp_sink.messages == []


def test_a_contact_id_of_another_organisation_is_refused(advisory, staff_client, smtp_sink):
    other = make_organisation()
    foreign = contact_add(organisation=other, actor=make_member(other, role="owner"), name="Other",
                          email="psirt@other.example", kind="vendor")

    response = staff_client.post(send_url(advisory), {"contacts": [foreign.pk]})

    assert response.status_code == 422 and not PreNotification.objects.exists() and smtp_sink.messages == []


def test_revoking_from_the_panel_closes_the_link(advisory, vendor, send, client, staff_client):
    token = send(advisory, vendor)[vendor.pk]

    response = staff_client.post(revoke_url(advisory, PreNotification.objects.get()))

    assert response.status_code == 302
    assert client.post(embargo_url(token)).status_code == 404
    panel = staff_client.get(panel_url(advisory)).content.decode()
    assert "revoked" in panel and ">Revoke<span" not in panel


def test_an_htmx_request_gets_the_panel_fragment_alone(advisory, vendor, send, staff_client):
    send(advisory, vendor)
    row = PreNotification.objects.get()

    page = staff_client.get(panel_url(advisory), HTTP_HX_REQUEST="true")
    revoked = staff_client.post(revoke_url(advisory, row), HTTP_HX_REQUEST="true")

    assert page.status_code == 200 and b"<html" not in page.content and b'id="prenotify-panel"' in page.content
    assert revoked.status_code == 200 and b"<html" not in revoked.content and b"is revoked" in revoked.content


def test_the_panel_explains_why_nothing_can_be_sent(organisation, owner, vendor, staff_client, frozen_clock):
    advisory = advisory_create(organisation=organisation, actor=owner, title="No embargo yet")

    assert b"Set the advisory&#x27;s embargo date first" in staff_client.get(panel_url(advisory)).content


def test_the_panel_says_what_to_do_without_contacts(advisory, staff_client):
    assert b"No downstream contacts yet" in staff_client.get(panel_url(advisory)).content


def test_the_panel_of_a_published_advisory_offers_no_send_form(advisory, owner, vendor, send, staff_client):
    from vulndesk.advisories.services import advisory_transition

    send(advisory, vendor)
    advisory_transition(advisory=advisory, actor=owner, to="in_review")
    advisory_transition(advisory=advisory, actor=owner, to="published", override_reason="Exploited")

    text = staff_client.get(panel_url(advisory)).content.decode()

    assert "closed: advisory public" in text and "Send pre-notification" not in text


def test_the_panel_costs_the_same_few_queries_for_many_recipients_and_views(advisory, owner, send, client,
                                                                             staff_client,
                                                                             django_assert_max_num_queries):
    contacts = [contact_add(organisation=advisory.organisation, actor=owner, name=f"Vendor {n}",
                            email=f"psirt{n}@vendor{n}.example", kind="vendor") for n in range(8)]
    for token in send(advisory, *contacts).values():
        client.post(embargo_url(token))
        client.post(embargo_url(token))

    with django_assert_max_num_queries(12):
        response = staff_client.get(panel_url(advisory))
    assert response.content.decode().count("2 views</strong>") == 8


# --- the partial on the advisory page -----------------------------------------------------------------

def _host_render(member, advisory):
    """As the advisory page's {% panel %} tag renders it: the page's context, no ``prenotify``."""
    request = RequestFactory().get("/")
    request.user, request.htmx = member.user, False
    return render_to_string("prenotify/partials/_advisory_panel.html", {"member": member, "advisory": advisory,
                                                                        "organisation": member.organisation},
                            request=request)


def test_the_partial_renders_on_the_advisory_page_from_its_member_and_advisory(advisory, vendor, send, triager):
    send(advisory, vendor)

    html = _host_render(triager, advisory)

    assert 'id="prenotify-panel"' in html and "Debian Security Team" in html and "not viewed yet" in html


@pytest.mark.parametrize("role", ["developer", "viewer"])
def test_the_partial_is_empty_for_roles_that_may_not_see_who_was_told(advisory, vendor, send, organisation, role):
    send(advisory, vendor)

    assert _host_render(make_member(organisation, role=role), advisory).strip() == ""


def test_the_partial_shows_nothing_for_another_organisations_advisory(advisory, vendor, send):
    send(advisory, vendor)

    assert _host_render(make_member(make_organisation(), role="owner"), advisory).strip() == ""


# --- roles and tenants ------------------------------------------------------------------------------------

def _answers(client, advisory, row, vendor, organisation=None):
    return [client.get(panel_url(advisory, organisation)).status_code,
            client.post(send_url(advisory, organisation), {"contacts": [vendor.pk]}).status_code,
            client.post(revoke_url(advisory, row, organisation)).status_code]


@pytest.mark.parametrize("role", TRIAGE)
def test_triage_roles_see_the_panel_send_and_revoke(client, advisory, vendor, send, organisation, role):
    send(advisory, vendor)
    verified_login(client, make_member(organisation, role=role).user)

    assert _answers(client, advisory, PreNotification.objects.get(), vendor) == [200, 302, 302]


@pytest.mark.parametrize("role", NOT_TRIAGE)
def test_other_roles_get_403_on_the_panel_send_and_revoke(client, advisory, vendor, send, organisation, role):
    send(advisory, vendor)
    row = PreNotification.objects.get()
    verified_login(client, make_member(organisation, role=role).user)

    assert _answers(client, advisory, row, vendor) == [403, 403, 403]
    row.refresh_from_db()
    assert row.revoked_at is None and PreNotification.objects.count() == 1


@pytest.mark.parametrize("role", TRIAGE + NOT_TRIAGE)
def test_a_member_of_another_organisation_gets_404_for_every_prenotify_url(client, advisory, vendor, send, role,
                                                                           frozen_clock):
    token = send(advisory, vendor)[vendor.pk]
    row = PreNotification.objects.get()
    other = make_organisation()
    member = make_member(other, role=role)
    verified_login(client, member.user)
    # An advisory of their own, so their slug with this organisation's link id is a real URL.
    own = advisory_create(organisation=other, actor=make_member(other, role="owner"), title="Own advisory")
    advisory_update(advisory=own, actor=make_member(other, role="owner"),
                    embargo_until=frozen_clock.now + timedelta(days=3))

    with_their_slug = _answers(client, advisory, row, vendor, organisation=other)
    with_this_slug = _answers(client, advisory, row, vendor)
    mixed = client.post(revoke_url(own, row)).status_code

    expected = 404 if role in TRIAGE else 403  # the role check comes first on their own slug
    assert with_this_slug == [404, 404, 404]
    assert with_their_slug == [expected] * 3 and mixed == expected
    row.refresh_from_db()
    assert row.revoked_at is None and PreNotification.objects.count() == 1
    assert client.post(embargo_url(token)).status_code == 200


def test_anonymous_visitors_are_sent_to_login(client, advisory, vendor, send):
    send(advisory, vendor)

    answers = _answers(client, advisory, PreNotification.objects.get(), vendor)

    assert answers == [302, 302, 302]


def test_the_staff_urls_refuse_the_wrong_method(advisory, vendor, send, staff_client):
    send(advisory, vendor)
    row = PreNotification.objects.get()

    assert staff_client.get(send_url(advisory)).status_code == 405
    assert staff_client.get(revoke_url(advisory, row)).status_code == 405
    assert staff_client.post(panel_url(advisory)).status_code == 405


def test_the_mail_link_opens_the_page_the_panel_counts(advisory, vendor, staff_client, smtp_sink, client):
    staff_client.post(send_url(advisory), {"contacts": [vendor.pk]})
    token = link_token(smtp_sink.wait_for(1)[0]["message"])

    assert client.post(embargo_url(token)).status_code == 200
    assert "1 view</strong>" in staff_client.get(panel_url(advisory)).content.decode()
