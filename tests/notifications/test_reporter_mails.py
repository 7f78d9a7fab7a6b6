"""Mails to the reporter (the address they gave with the report), through the real SMTP sink:
at each state change that concerns them, when the advisory is scheduled and published, and
when it credits them. Never any report text, not even the title they wrote.

Report state changes reach us through ``reports.services.report_state_changed`` (added by the
lead). ``transition`` below makes the real transition and then calls our receiver with what that
signal carries; with a frozen clock both produce the same occurrence, so the unique constraint
keeps it to one mail whether or not the signal is already wired in."""

import pytest

from tests.factories.core import make_organisation, make_product, make_report
from tests.notifications.conftest import CRITICAL, reviewed_advisory
from vulndesk.advisories.models import Advisory
from vulndesk.advisories.services import advisory_update
from vulndesk.core import clock
from vulndesk.notifications import receivers
from vulndesk.notifications.models import Delivery
from vulndesk.reports.models import Report
from vulndesk.reports.services import report_transition

REPORTER = "reporter@example.net"
TITLE = "TITLE-SECRET stored XSS in comments"


@pytest.fixture
def organisation(db):
    return make_organisation(security_contact_email="security@vendor.example")


@pytest.fixture
def transition(django_capture_on_commit_callbacks):
    def run(report, actor, to, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            previous = report.state
            report = report_transition(report=report, actor=actor, to=to, **fields)
            receivers.on_report_state_changed(sender=Report, report_id=report.pk, previous=previous, state=to,
                                              at=clock.now())
        return report

    return run


@pytest.fixture
def report(frozen_clock, product):
    return make_report(product, title=TITLE, description="DESCRIPTION-SECRET proof of concept",
                       reporter_name="NAME-SECRET", reporter_email=REPORTER, reporter_handle="finder42").report


def mails_to(sink, address=REPORTER) -> list:
    return [m["message"] for m in sink.messages if m["to"] == [address]]


def assert_says_little(message):
    text = message.as_string()
    for secret in ("TITLE-SECRET", "DESCRIPTION-SECRET", "NAME-SECRET"):
        assert secret not in text


def test_accepting_mails_the_reporter_the_reference_and_the_state_only(organisation, report, triager, smtp_sink,
                                                                        transition):
    transition(report, triager, "accepted", cvss_vector=CRITICAL)

    [message] = mails_to(smtp_sink)
    assert message["Subject"] == f"[{report.reference}] Your report was accepted"
    assert message["Reply-To"] == "security@vendor.example"
    body = message.get_content()
    assert f"{organisation.name} accepted your report {report.reference}" in body
    assert "use the tracking link you got when you sent the report" in body
    assert "/track/" not in body
    assert_says_little(message)
    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.event, delivery.status) == ("reporter", "report.accepted", "sent")


def test_each_state_that_concerns_the_reporter_is_mailed_once(organisation, report, triager, smtp_sink, transition):
    report = transition(report, triager, "accepted", cvss_vector=CRITICAL)
    report = transition(report, triager, "fixing")  # internal progress: no mail
    report = transition(report, triager, "fixed")
    report = transition(report, triager, "disclosed")  # disclosed without an advisory

    assert [m["Subject"] for m in mails_to(smtp_sink)] == [
        f"[{report.reference}] Your report was accepted", f"[{report.reference}] Your report is fixed",
        f"[{report.reference}] Your report is disclosed"]
    receivers.on_report_state_changed(sender=Report, report_id=report.pk, state="disclosed", at=clock.now())
    assert len(mails_to(smtp_sink)) == 3  # the same event again: no second mail


@pytest.mark.parametrize(("state", "label"), [("invalid", "invalid"), ("out_of_scope", "out of scope"),
                                              ("wont_fix", "won't fix")])
def test_closing_verdicts_are_mailed(organisation, report, triager, smtp_sink, transition, state, label):
    transition(report, triager, state)

    [message] = mails_to(smtp_sink)
    assert message["Subject"] == f"[{report.reference}] Your report was closed"
    assert f"closed your report {report.reference}: {label}." in message.get_content()


def test_a_report_without_an_address_mails_nobody(frozen_clock, product, triager, smtp_sink, transition):
    anonymous = make_report(product).report
    transition(anonymous, triager, "accepted", cvss_vector=CRITICAL)
    assert smtp_sink.messages == []
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("address", ["reporter@example.net\r\nBcc: victim@example.org",
                                     "reporter@example.net\u2028Bcc: victim@example.org", "not an address"])
def test_a_hostile_stored_address_is_never_used(frozen_clock, product, triager, smtp_sink, transition, address):
    # The web form refuses these; the API or mail intake might store one anyway.
    hostile = make_report(product, reporter_email=address).report
    transition(hostile, triager, "accepted", cvss_vector=CRITICAL)

    assert smtp_sink.messages == []
    assert Delivery.objects.get().status == Delivery.Status.CANCELLED


def test_publication_mails_the_reporter_with_the_credit_and_no_separate_disclosed_mail(
        organisation, product, report, triager, smtp_sink, transition, publish):
    report = transition(report, triager, "accepted", cvss_vector=CRITICAL)
    report = transition(report, triager, "fixing")
    report = transition(report, triager, "fixed")
    advisory = reviewed_advisory(organisation, triager, product, reports=[report])

    publish(advisory, triager)  # discloses the report too
    report.refresh_from_db()
    receivers.on_report_state_changed(sender=Report, report_id=report.pk, state="disclosed", at=clock.now())

    published = mails_to(smtp_sink)[-1]
    assert published["Subject"] == f"[{report.reference}] The advisory is published"
    body = published.get_content()
    assert f"published {advisory.identifier}, the advisory for your report {report.reference}" in body
    assert 'It credits you as "finder42"' in body
    assert f"/advisories/{organisation.slug}/{advisory.identifier}/" in body
    assert_says_little(published)
    assert report.state == "disclosed"
    assert not Delivery.objects.filter(event="report.disclosed").exists()


def test_a_credit_added_in_a_later_revision_is_mailed_once(organisation, product, report, triager, smtp_sink,
                                                           transition, publish):
    report = transition(report, triager, "accepted", cvss_vector=CRITICAL)
    advisory = reviewed_advisory(organisation, triager, product, reports=[report])
    advisory = advisory_update(advisory=advisory, actor=triager, credits=[])
    advisory = publish(advisory, triager)
    assert 'credits you' not in mails_to(smtp_sink)[-1].get_content()

    advisory_update(advisory=advisory, actor=triager, credits=[{"name": "Finder42", "type": "FINDER"}])
    advisory = publish(Advisory.objects.get(pk=advisory.pk), triager, to="updated", changelog="Credit added.")
    advisory_update(advisory=advisory, actor=triager, summary="Clarified")
    publish(Advisory.objects.get(pk=advisory.pk), triager, to="updated", changelog="Clarified.")

    credited = [m for m in mails_to(smtp_sink) if "credited" in m["Subject"]]
    assert len(credited) == 1
    assert f'{advisory.identifier}, the advisory for your report {report.reference}, now credits you as "Finder42"' \
           in credited[0].get_content()


def test_scheduling_tells_the_reporter_that_not_when(organisation, product, report, triager, smtp_sink, transition,
                                                      publish, frozen_clock):
    from datetime import timedelta

    report = transition(report, triager, "accepted", cvss_vector=CRITICAL)
    advisory = reviewed_advisory(organisation, triager, product, reports=[report])
    advisory = advisory_update(advisory=advisory, actor=triager, embargo_until=frozen_clock.now + timedelta(days=9))
    publish(advisory, triager, to="scheduled")

    # What advisories.hooks.advisory_scheduled (added by the lead) will deliver, twice.
    receivers.on_advisory_scheduled(sender=Advisory, advisory_id=advisory.pk)
    receivers.on_advisory_scheduled(sender=Advisory, advisory_id=advisory.pk)

    [scheduled] = [m for m in mails_to(smtp_sink) if "scheduled" in m["Subject"]]
    body = scheduled.get_content()
    assert f"scheduled the publication of an advisory for your report {report.reference}" in body
    embargo = advisory.embargo_until
    for embargoed in (advisory.identifier, "SQL injection", embargo.strftime("%Y-%m-%d"), embargo.strftime("%d %b")):
        assert embargoed not in scheduled.as_string()
    assert_says_little(scheduled)


def test_reporters_of_another_organisation_are_not_involved(frozen_clock, organisation, product, report, triager,
                                                            smtp_sink, transition):
    other = make_report(make_product(make_organisation()), reporter_email="other@example.net").report
    transition(report, triager, "accepted", cvss_vector=CRITICAL)
    assert mails_to(smtp_sink, "other@example.net") == []
    assert other.pk not in set(Delivery.objects.values_list("report_id", flat=True))
