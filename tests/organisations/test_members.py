"""The members page (ASVS V8.2.1, V8.2.2, V6.4.1, V6.3.7, V16.3.1): only owners change roles,
product scopes and membership; a security manager reads, a triager is refused; adding an address
answers the same whether or not it had an account, and a new person chooses their password
through a mailed, single-use link; every change is audited; an organisation always keeps
an owner; and a member scoped to one product sees nothing of the others, on pages or the API."""

import re

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.test import Client

from tests.factories.core import (
    PASSWORD,
    make_member,
    make_organisation,
    make_product,
    make_report,
    verified_login,
)
from vulndesk.accounts.models import User
from vulndesk.audit.models import AuditEntry
from vulndesk.organisations.models import Membership


def members_url(organisation, suffix: str = "") -> str:
    return f"/o/{organisation.slug}/members/{suffix}"


def role_post(client, row, role):
    return client.post(members_url(row.organisation, f"{row.pk}/role/"), {f"m{row.pk}-role": role}, follow=True)


def products_post(client, row, products):
    return client.post(members_url(row.organisation, f"{row.pk}/products/"),
                       {f"p{row.pk}-products": [p.pk for p in products]})


def remove_post(client, row):
    return client.post(members_url(row.organisation, f"{row.pk}/remove/"), follow=True)


def rows_containing(text: str) -> list[str]:
    """Every stored row (sessions decoded) whose values contain ``text``."""
    hits = []
    for model in apps.get_models():
        for row in model._base_manager.values():
            if model is Session:
                row["session_data"] = Session(**row).get_decoded()
            if text in repr(row):
                hits.append(f"{model._meta.label}: {row}")
    return hits


def role_of(row) -> str:
    return Membership.objects.get(pk=row.pk).role


@pytest.fixture
def owner_client(owner):
    return verified_login(Client(), owner.user)


@pytest.fixture
def manager(organisation):
    return make_member(organisation, role="security_manager")


@pytest.fixture
def manager_client(manager):
    return verified_login(Client(), manager.user)


# --- who sees and who changes -----------------------------------------------------------------

def test_an_owner_sees_every_member_with_controls_to_change_them(owner_client, owner, triager, organisation):
    response = owner_client.get(members_url(organisation))

    assert response.status_code == 200
    html = response.content.decode()
    for row in (owner, triager):
        assert row.user.email in html
    assert members_url(organisation, f"{triager.pk}/role/") in html
    assert members_url(organisation, f"{triager.pk}/remove/") in html
    assert members_url(organisation, "add/") in html


def test_a_security_manager_sees_the_members_read_only(manager_client, triager, organisation):
    response = manager_client.get(members_url(organisation))

    assert response.status_code == 200
    html = response.content.decode()
    assert triager.user.email in html
    assert not re.search(r"/members/\d+/(role|products|remove)/", html)
    assert members_url(organisation, "add/") not in html


def test_a_security_manager_cannot_change_anything(manager_client, manager, triager, organisation, product):
    assert role_post(manager_client, manager, "owner").status_code == 403
    assert role_post(manager_client, triager, "viewer").status_code == 403
    assert products_post(manager_client, triager, [product]).status_code == 403
    assert remove_post(manager_client, triager).status_code == 403
    assert manager_client.post(members_url(organisation, "add/"),
                               {"email": "friend@example.org", "role": "owner"}).status_code == 403

    assert (role_of(manager), role_of(triager)) == ("security_manager", "triager")
    assert not Membership.objects.get(pk=triager.pk).is_product_scoped
    assert not User.objects.filter(email="friend@example.org").exists()
    assert not AuditEntry.objects.filter(action__startswith="membership.").exclude(action="membership.add").exists()


def test_a_triager_gets_403_for_the_members_page_and_its_actions(staff_client, triager, owner, organisation):
    assert staff_client.get(members_url(organisation)).status_code == 403
    assert role_post(staff_client, triager, "owner").status_code == 403
    assert remove_post(staff_client, owner).status_code == 403
    assert role_of(triager) == "triager"
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_owner_of_another_organisation_gets_404_for_these_members(triager, organisation):
    stranger = make_member(make_organisation(), role="owner")
    client = verified_login(Client(), stranger.user)

    assert client.get(members_url(organisation)).status_code == 404
    assert role_post(client, triager, "viewer").status_code == 404
    assert remove_post(client, triager).status_code == 404
    assert role_of(triager) == "triager"


def test_an_owner_cannot_reach_a_membership_of_another_organisation_through_their_own(owner_client, organisation):
    foreign = make_member(make_organisation(), role="triager")

    url = members_url(organisation, f"{foreign.pk}/role/")
    response = owner_client.post(url, {f"m{foreign.pk}-role": "viewer"})

    assert response.status_code == 404
    assert role_of(foreign) == "triager"


# --- adding people ----------------------------------------------------------------------------

def add_post(client, organisation, **data):
    return client.post(members_url(organisation, "add/"), {"role": "viewer"} | data)


LINK = re.compile(r"http://[^/\s]+(/invitation/[^/\s]+/[^/\s]+/)")


def invitation_path(message) -> str:
    match = LINK.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)


def test_adding_a_new_address_creates_an_account_without_a_password_and_mails_a_link(owner_client, organisation,
                                                                                      smtp_sink):
    response = add_post(owner_client, organisation, email="New.Person@Example.org", name="New Person",
                        role="triager")

    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.org")
    assert not user.has_usable_password() and user.name == "New Person"
    assert Membership.objects.get(user=user, organisation=organisation).role == "triager"
    [mail] = smtp_sink.wait_for(1)
    assert mail["to"] == ["new.person@example.org"]
    assert mail["message"]["Subject"] == f"You are invited to {organisation.name} on vulndesk"
    assert mail["message"]["Auto-Submitted"] == "auto-generated"
    assert "as Triager" in mail["message"].get_content()
    invitation_path(mail["message"])


def test_adding_an_existing_account_mails_a_notice_and_leaves_its_password_and_name(owner_client, organisation,
                                                                                     smtp_sink):
    existing = make_member(make_organisation(), name="Jane Original").user

    response = add_post(owner_client, organisation, email=existing.email.upper(), name="Someone Else")

    assert response.status_code == 302
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD) and existing.name == "Jane Original"
    assert Membership.objects.get(user=existing, organisation=organisation).role == "viewer"
    [mail] = smtp_sink.wait_for(1)
    assert mail["to"] == [existing.email]
    assert mail["message"]["Subject"] == f"You were added to {organisation.name} on vulndesk"
    assert "/accounts/login/" in mail["message"].get_content()
    assert not LINK.search(mail["message"].get_content())


def _answer_as_seen_by_the_owner(client, organisation, email: str) -> tuple:
    """Everything the owner gets back for adding ``email``: status, redirect, and the page it
    leads to, with the address itself (which the owner typed) taken out."""
    response = add_post(client, organisation, email=email, name="Typed Name")
    page = client.get(response.url).content.decode()
    row = re.search(r"<tr>\s*<td>(?:(?!</tr>).)*" + re.escape(email) + r"(?:(?!</tr>).)*</tr>", page, re.S).group(0)
    row = re.sub(r"/members/\d+/", "/members/N/", row).replace(email, "ADDRESS")
    row = re.sub(r'\b(id_)?([mp])\d+-', r'\1\2N-', row)  # form prefixes carry the membership id
    row = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", row)
    flash = re.search(r'<div class="flash-list".*?</div>', page, re.S).group(0).replace(email, "ADDRESS")
    return response.status_code, response.url, flash, row


def test_the_owner_cannot_tell_whether_an_address_already_had_an_account(owner_client, organisation, smtp_sink):
    existing = make_member(make_organisation(), name="Jane Original", email="jane@example.org").user

    for_existing = _answer_as_seen_by_the_owner(owner_client, organisation, existing.email)
    for_new = _answer_as_seen_by_the_owner(owner_client, organisation, "nobody-yet@example.org")

    assert for_existing == for_new
    assert "Invitation sent to ADDRESS" in for_new[2] and "Invited" in for_new[3]
    assert "Jane Original" not in owner_client.get(members_url(organisation)).content.decode()
    assert len(smtp_sink.wait_for(2)) == 2


def test_a_refused_mail_gives_the_same_answer_for_both_and_keeps_the_member(owner_client, organisation, settings):
    import socket

    with socket.socket() as sock:  # a port with nobody listening: a real refused connection
        sock.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = sock.getsockname()[1]
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = "django.core.mail.backends.smtp.EmailBackend", "127.0.0.1"
    existing = make_member(make_organisation(), email="known@example.org").user

    for_existing = _answer_as_seen_by_the_owner(owner_client, organisation, existing.email)
    for_new = _answer_as_seen_by_the_owner(owner_client, organisation, "unknown@example.org")

    assert for_existing == for_new
    assert "the mail server refused the invitation mail" in for_new[2]
    assert Membership.objects.filter(organisation=organisation, user__email="unknown@example.org").exists()


def test_the_invited_person_sets_a_password_then_logs_in_with_it(owner_client, organisation, smtp_sink, client):
    add_post(owner_client, organisation, email="invitee@example.org")
    path = invitation_path(smtp_sink.wait_for(1)[0]["message"])

    page = client.get(path)
    assert page.status_code == 200 and "invitee@example.org" in page.content.decode()
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"
    assert not User.objects.get(email="invitee@example.org").has_usable_password()  # opening changes nothing

    chosen = "violet-otter-lantern-harbour-7"
    response = client.post(path, {"new_password1": chosen, "new_password2": chosen})

    assert response.status_code == 302 and response.url == "/accounts/login/"
    user = User.objects.get(email="invitee@example.org")
    assert user.check_password(chosen)
    assert AuditEntry.objects.filter(action="auth.invitation_accept", actor_id=user.pk).count() == 1
    assert rows_containing(chosen) == []
    login = client.post("/accounts/login/", {"username": "invitee@example.org", "password": chosen})
    assert login.status_code == 302 and login.url.startswith("/accounts/two-factor/")
    # The link worked once.
    assert Client().get(path).status_code == 404
    assert Client().post(path, {"new_password1": "x" * 20, "new_password2": "x" * 20}).status_code == 404


@pytest.mark.parametrize("password, error", [
    ("", "This field is required."),
    ("short-one", "at least 15 characters"),
    ("123456789012345678", "entirely numeric"),
    ("x" * 1001, "at most 1000 characters"),
], ids=["empty", "short", "numeric", "oversized"])
def test_a_refused_password_keeps_the_link_working(owner_client, organisation, smtp_sink, client, password,
                                                    error):
    add_post(owner_client, organisation, email="picky@example.org")
    path = invitation_path(smtp_sink.wait_for(1)[0]["message"])

    response = client.post(path, {"new_password1": password, "new_password2": password})

    assert response.status_code == 422 and error in response.content.decode()
    assert not User.objects.get(email="picky@example.org").has_usable_password()
    assert client.get(path).status_code == 200


def test_two_different_passwords_are_refused(owner_client, organisation, smtp_sink, client):
    add_post(owner_client, organisation, email="typo@example.org")
    path = invitation_path(smtp_sink.wait_for(1)[0]["message"])

    response = client.post(path, {"new_password1": "violet-otter-lantern-harbour-7",
                                  "new_password2": "violet-otter-lantern-harbour-8"})

    assert response.status_code == 422 and "didn’t match" in response.content.decode()


@pytest.mark.parametrize("suffix", [
    "MQ/not-a-token/", "%2e%2e/%2e%2e/", "' OR 1=1--/x/", "<script>/x/", "A" * 5000 + "/x/", "MQ/" + "a" * 5000 + "/",
], ids=["wrong-token", "traversal", "sql", "html", "overlong-uid", "overlong-token"])
def test_a_wrong_or_hostile_invitation_link_answers_404(client, suffix, db):
    response = client.get("/invitation/" + suffix)

    assert response.status_code == 404
    assert "<script>" not in response.content.decode()


def test_a_link_for_an_account_that_has_a_password_does_not_reset_it(owner, client):
    from vulndesk.organisations.mails import invitation_url

    path = invitation_url(owner.user).split("8000", 1)[1]

    assert client.get(path).status_code == 404
    assert client.post(path, {"new_password1": "y" * 20, "new_password2": "y" * 20}).status_code == 404
    owner.user.refresh_from_db()
    assert owner.user.check_password(PASSWORD)


def test_the_invitation_link_is_rate_limited_per_address(client, db):
    answers = [client.get("/invitation/MQ/x-y/", REMOTE_ADDR="198.51.100.9").status_code for _ in range(21)]

    assert answers[:20] == [404] * 20 and answers[20] == 429
    assert client.get("/invitation/MQ/x-y/", REMOTE_ADDR="198.51.100.10").status_code == 404


def test_the_access_log_does_not_carry_the_invitation_token(owner_client, organisation, smtp_sink, client, caplog):
    import logging

    from vulndesk.core.logs import RedactingFilter

    add_post(owner_client, organisation, email="logged@example.org")
    path = invitation_path(smtp_sink.wait_for(1)[0]["message"])
    token = path.rstrip("/").rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="vulndesk.access"):
        client.get(path)

    record = next(r for r in caplog.records if r.name == "vulndesk.access")
    RedactingFilter().filter(record)
    assert token not in record.getMessage()


def test_adding_someone_still_invited_mails_them_again_and_keeps_their_role(owner_client, organisation, smtp_sink):
    add_post(owner_client, organisation, email="slow@example.org", role="developer")
    first = invitation_path(smtp_sink.wait_for(1)[0]["message"])

    response = add_post(owner_client, organisation, email="slow@example.org", role="owner")

    assert response.status_code == 302
    again = smtp_sink.wait_for(2)[1]["message"]
    assert again["Subject"] == f"You are invited to {organisation.name} on vulndesk"
    assert invitation_path(again).split("/")[2] == first.split("/")[2]
    assert Membership.objects.get(organisation=organisation, user__email="slow@example.org").role == "developer"
    assert AuditEntry.objects.filter(action="membership.invite_again").count() == 1


def test_adding_a_member_who_has_logged_in_since_is_refused(owner_client, organisation, triager):
    Client().force_login(triager.user)  # logs in after being added

    response = add_post(owner_client, organisation, email=triager.user.email)

    assert response.status_code == 422
    assert "already a member" in response.content.decode()


@pytest.mark.parametrize("email", ["", "not-an-address", "a@b@c", "x" * 250 + "@example.org",
                                   "<script>alert(1)</script>@example.org", "victim@example.org\r\nBcc: x@y.z"],
                         ids=["empty", "malformed", "two-ats", "oversized", "html", "header-injection"])
def test_a_bad_address_is_refused_with_a_message_and_adds_nobody(owner_client, organisation, email):
    before = User.objects.count()

    response = add_post(owner_client, organisation, email=email)

    assert response.status_code == 422
    assert "<script>alert(1)" not in response.content.decode()
    assert User.objects.count() == before


def test_a_hostile_name_is_stored_as_text_and_shown_escaped(owner_client, organisation, smtp_sink):
    add_post(owner_client, organisation, email="odd@example.org", name="<img src=x onerror=alert(1)>")
    user = User.objects.get(email="odd@example.org")
    Client().force_login(user)

    html = owner_client.get(members_url(organisation)).content.decode()

    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert add_post(owner_client, organisation, email="long@example.org", name="n" * 151).status_code == 422


def test_adding_a_member_is_audited(owner_client, owner, organisation):
    owner_client.post(members_url(organisation, "add/"), {"email": "audit@example.org", "role": "viewer"})

    entry = AuditEntry.objects.get(action="membership.add", organisation_id=organisation.pk,
                                   target_id=str(User.objects.get(email="audit@example.org").pk))
    assert entry.actor_id == owner.user.pk
    assert entry.data == {"role": "viewer"}


# --- changing roles and removing --------------------------------------------------------------

def test_an_owner_changes_a_role_and_it_is_audited(owner_client, owner, triager, organisation):
    response = role_post(owner_client, triager, "viewer")

    assert response.status_code == 200
    assert role_of(triager) == "viewer"
    entry = AuditEntry.objects.get(action="membership.role_change")
    assert (entry.organisation_id, entry.actor_id, entry.target_id, entry.ip_address) == (
        organisation.pk, owner.user.pk, str(triager.user.pk), "127.0.0.1")
    assert entry.data == {"from": "triager", "to": "viewer"}


def test_an_owner_removes_a_member_and_it_is_audited(owner_client, owner, triager, organisation):
    response = remove_post(owner_client, triager)

    assert response.status_code == 200
    assert not Membership.objects.filter(pk=triager.pk).exists()
    entry = AuditEntry.objects.get(action="membership.remove")
    assert (entry.organisation_id, entry.actor_id, entry.target_id) == (
        organisation.pk, owner.user.pk, str(triager.user.pk))
    assert entry.data == {"role": "triager"}


def test_a_removed_member_loses_access_at_once(owner_client, triager, staff_client, organisation, product,
                                                frozen_clock):
    report = make_report(product).report
    assert staff_client.get(f"/o/{organisation.slug}/reports/{report.number}/").status_code == 200

    remove_post(owner_client, triager)

    assert staff_client.get(f"/o/{organisation.slug}/reports/").status_code == 404
    assert staff_client.get(f"/o/{organisation.slug}/reports/{report.number}/").status_code == 404
    assert staff_client.get(f"/api/v1/organisations/{organisation.slug}/reports/").status_code == 404


def test_a_demoted_owner_loses_the_members_controls_at_once(owner_client, owner, organisation):
    keeper = make_member(organisation, role="owner")
    role_post(verified_login(Client(), keeper.user), owner, "triager")

    assert owner_client.get(members_url(organisation)).status_code == 403


def test_the_last_owner_cannot_be_demoted(owner_client, owner, triager):
    response = role_post(owner_client, owner, "triager")

    assert response.status_code == 200
    assert "An organisation needs at least one owner." in response.content.decode()
    assert role_of(owner) == "owner"
    assert not AuditEntry.objects.filter(action="membership.role_change").exists()


def test_the_last_owner_cannot_be_removed(owner_client, owner):
    response = remove_post(owner_client, owner)

    assert response.status_code == 200
    assert "An organisation needs at least one owner." in response.content.decode()
    assert Membership.objects.filter(pk=owner.pk).exists()
    assert not AuditEntry.objects.filter(action="membership.remove").exists()


def test_with_a_second_owner_an_owner_may_step_down(owner_client, owner, organisation):
    make_member(organisation, role="owner")

    role_post(owner_client, owner, "security_manager")

    assert role_of(owner) == "security_manager"


# --- product scope ----------------------------------------------------------------------------

@pytest.fixture
def scoped(owner_client, triager, organisation, frozen_clock):
    """Product A and B, one report each; the triager is scoped to A by the owner."""
    product_a, product_b = make_product(organisation, name="Alpha"), make_product(organisation, name="Beta")
    report_a, report_b = make_report(product_a).report, make_report(product_b).report
    response = products_post(owner_client, triager, [product_a])
    assert response.status_code == 302
    return report_a, report_b


def test_setting_a_product_scope_is_audited(scoped, owner, triager, organisation):
    report_a, _ = scoped

    entry = AuditEntry.objects.get(action="membership.products_set")
    assert (entry.actor_id, entry.target_id) == (owner.user.pk, str(triager.user.pk))
    assert entry.data == {"products": [report_a.product_id]}


def test_a_product_scoped_member_sees_only_that_products_reports_in_the_queue(scoped, staff_client, organisation):
    report_a, report_b = scoped

    html = staff_client.get(f"/o/{organisation.slug}/reports/?state=all").content.decode()

    assert report_a.reference in html
    assert report_b.reference not in html
    assert "Beta" not in html


def test_a_product_scoped_member_gets_404_for_another_products_report_page(scoped, staff_client, organisation):
    report_a, report_b = scoped

    assert staff_client.get(f"/o/{organisation.slug}/reports/{report_a.number}/").status_code == 200
    assert staff_client.get(f"/o/{organisation.slug}/reports/{report_b.number}/").status_code == 404


def test_a_product_scoped_member_sees_only_that_product_in_the_api(scoped, staff_client, organisation):
    report_a, report_b = scoped
    api = f"/api/v1/organisations/{organisation.slug}/reports/"

    listing = staff_client.get(api + "?state=all")

    assert [row["number"] for row in listing.json()["results"]] == [report_a.number]
    assert staff_client.get(f"{api}{report_a.number}/").status_code == 200
    for suffix in ("", "timeline/", "messages/"):
        assert staff_client.get(f"{api}{report_b.number}/{suffix}").status_code == 404, suffix
    for suffix, body in (("transition/", {"to": "rejected"}), ("messages/", {"body": "hi", "is_internal": True})):
        response = staff_client.post(f"{api}{report_b.number}/{suffix}", body, content_type="application/json")
        assert response.status_code == 404, suffix


def test_clearing_the_scope_gives_back_all_products(scoped, owner_client, triager, staff_client, organisation):
    _, report_b = scoped

    products_post(owner_client, triager, [])

    assert staff_client.get(f"/o/{organisation.slug}/reports/{report_b.number}/").status_code == 200


def test_a_scope_cannot_name_a_product_of_another_organisation(owner_client, triager):
    foreign = make_product(make_organisation())

    products_post(owner_client, triager, [foreign])

    assert not Membership.objects.get(pk=triager.pk).is_product_scoped
    assert not Membership.objects.get(pk=triager.pk).products.exists()
