"""The members page (ASVS V8.2.1, V8.2.2, V6.4.1, V16.3.1): only owners change roles, product
scopes and membership; a security manager reads, a triager is refused; a new person's one-time
password is shown once and never cached; every change is audited; an organisation always keeps
an owner; and a member scoped to one product sees nothing of the others, on pages or the API."""

import re

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.test import Client

from tests.factories.core import make_member, make_organisation, make_product, make_report, verified_login
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

def test_adding_a_new_address_creates_the_user_and_shows_a_one_time_password_once(owner_client, organisation):
    response = owner_client.post(members_url(organisation, "add/"),
                                 {"email": "New.Person@Example.org", "name": "New Person", "role": "triager"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    password = re.search(r'id="one-time-password" class="mono" value="([^"]+)"', response.content.decode()).group(1)
    user = User.objects.get(email="new.person@example.org")
    assert user.check_password(password)
    assert Membership.objects.get(user=user, organisation=organisation).role == "triager"
    # Shown once: not on the next page, not in the session, not stored in clear anywhere.
    assert password not in owner_client.get(members_url(organisation)).content.decode()
    assert rows_containing(password) == []


def test_the_members_page_is_never_cached(owner_client, organisation):
    assert "no-store" in owner_client.get(members_url(organisation))["Cache-Control"]


def test_adding_an_existing_user_shows_no_password(owner_client, organisation):
    existing = make_member(make_organisation()).user

    response = owner_client.post(members_url(organisation, "add/"), {"email": existing.email, "role": "viewer"},
                                 follow=True)

    assert response.status_code == 200
    assert 'id="one-time-password"' not in response.content.decode()
    assert Membership.objects.get(user=existing, organisation=organisation).role == "viewer"


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
