"""Staff pages of the mailbox: tenant isolation, roles, the configured addresses, audited
downloads. Messages enter through the same store-and-process path as SMTP."""

import pytest
from django.urls import reverse

from tests.factories.core import make_member, make_organisation, verified_login
from tests.mailintake.conftest import REPORTER, mail, receive
from vulndesk.audit.models import AuditEntry
from vulndesk.mailintake.models import InboundState, IntakeAddress
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held(mail_world, smtp_sink):
    first = receive(mail("Report", "text", message_id="<a@reporter.example>"))
    return receive(mail("Re: Report", "stranger", sender="mallory@evil.example", In_Reply_To="<a@reporter.example>"),
                   mail_from="mallory@evil.example"), first


def mail_urls(organisation: str, message_id: int, address_id: int, number: int) -> list[tuple[str, str]]:
    kwargs = {"organisation": organisation}
    on_message = {**kwargs, "message_id": message_id}
    return [
        ("get", reverse("mailintake:inbox", kwargs=kwargs)),
        ("get", reverse("mailintake:message", kwargs=on_message)),
        ("get", reverse("mailintake:original", kwargs=on_message)),
        ("post", reverse("mailintake:approve", kwargs=on_message)),
        ("post", reverse("mailintake:reject", kwargs=on_message)),
        ("post", reverse("mailintake:convert", kwargs=on_message)),
        ("get", reverse("mailintake:addresses", kwargs=kwargs)),
        ("post", reverse("mailintake:address_add", kwargs=kwargs)),
        ("post", reverse("mailintake:address_deactivate", kwargs={**kwargs, "address_id": address_id})),
        ("get", reverse("mailintake:report_mail", kwargs={**kwargs, "number": number})),
    ]


def test_every_mail_page_of_another_organisation_answers_404(held, mail_world, client):
    message, first = held
    stranger = make_member(make_organisation(), role="owner")
    staff = verified_login(client, stranger.user)
    urls = mail_urls("acme", message.pk, mail_world.address.pk, first.report.number)
    assert [(method, url, getattr(staff, method)(url).status_code) for method, url in urls] == \
        [(method, url, 404) for method, url in urls]
    message.refresh_from_db()
    assert message.state == InboundState.HELD


def test_a_viewer_reads_the_mail_list_without_sender_addresses_and_cannot_download_or_decide(held, mail_world,
                                                                                            client):
    message, _ = held
    viewer = verified_login(client, make_member(mail_world.organisation, role="viewer").user)
    page = viewer.get("/o/acme/mail/?view=all")
    assert page.status_code == 200 and "Re: Report" in page.content.decode()
    assert "mallory@evil.example" not in page.content.decode() and REPORTER not in page.content.decode()
    assert viewer.get(f"/o/acme/mail/messages/{message.pk}/original/").status_code == 403
    assert viewer.post(f"/o/acme/mail/messages/{message.pk}/approve/").status_code == 403
    message.refresh_from_db()
    assert message.state == InboundState.HELD


def test_the_mail_list_costs_the_same_few_queries_for_many_messages(mail_world, smtp_sink, client,
                                                                     django_assert_max_num_queries):
    for n in range(12):
        receive(mail(f"Report {n}", f"body {n}", sender=f"r{n}@reporter.example"), mail_from=f"r{n}@reporter.example")
    staff = verified_login(client, mail_world.triager.user)
    with django_assert_max_num_queries(12):
        page = staff.get("/o/acme/mail/?view=all")
    assert page.content.decode().count("/o/acme/mail/messages/") == 12


def test_downloading_an_original_is_audited_and_served_as_a_file_never_as_a_page(held, mail_world, client):
    message, _ = held
    response = verified_login(client, mail_world.triager.user).get(f"/o/acme/mail/messages/{message.pk}/original/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"stranger" in b"".join(response.streaming_content)
    entry = AuditEntry.objects.filter(action="mail.download").get()
    assert (entry.target_id, entry.actor_id) == (str(message.pk), mail_world.triager.user_id)


def test_an_owner_adds_an_intake_address_and_a_triager_may_not(mail_world, client, smtp_sink):
    triager = verified_login(client, mail_world.triager.user)
    form = {"local_part": "Disclosure", "domain": "Acme-Corp.example", "product": mail_world.other_product.pk,
            "accepts_product_tags": "on"}
    assert triager.post("/o/acme/mail/addresses/new/", form).status_code == 403
    owner = verified_login(client, mail_world.owner.user)
    assert owner.post("/o/acme/mail/addresses/new/", form).status_code == 302
    address = IntakeAddress.objects.get(local_part="disclosure")
    assert (address.domain, address.product) == ("acme-corp.example", mail_world.other_product)
    assert owner.post("/o/acme/mail/addresses/new/", form).status_code == 422  # taken

    receive(mail(to="disclosure@acme-corp.example"), to="disclosure@acme-corp.example")
    assert Report.objects.get().product == mail_world.other_product
    page = owner.get("/o/acme/mail/addresses/").content.decode()
    assert "disclosure@acme-corp.example" in page and "security@acme.test" in page


def test_an_address_with_a_plus_or_a_bad_domain_is_refused(mail_world, client):
    owner = verified_login(client, mail_world.owner.user)
    for local_part, domain in [("security+x", "acme.test"), ("security", "localhost"), ("sec urity", "acme.test")]:
        response = owner.post("/o/acme/mail/addresses/new/", {"local_part": local_part, "domain": domain,
                                                                "product": mail_world.product.pk})
        assert response.status_code == 422
    assert IntakeAddress.objects.count() == 1
