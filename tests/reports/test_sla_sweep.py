"""The SLA sweep (services.deadlines_sweep) and its e-mail (notices + tasks.sla_sweep), through the
real database and a real SMTP server on loopback.

Frozen start: Mon 23 Nov 2026 09:00 UTC. A report filed then without acknowledgement has
  acknowledgement: due Wed 25 Nov 09:00 UTC (48 h), reminder at 75% = Tue 24 Nov 21:00 UTC;
  assessment:      due Mon 30 Nov 09:00 UTC (5 business days), reminder at 75% of 7 days = Sat 28 Nov 15:00 UTC.
"""

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories.core import make_member, make_organisation, make_product, make_report
from vulndesk.reports.models import NO_DEADLINE, EventKind, Report, SlaClock, SlaNotice, TimelineEvent
from vulndesk.reports.notices import notice_recipients
from vulndesk.reports.services import deadlines_sweep, report_assign, report_transition
from vulndesk.reports.states import ReportState
from vulndesk.reports.tasks import sla_sweep

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ACK_REMINDER = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
ACK_DUE = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ASSESSMENT_REMINDER = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
ASSESSMENT_DUE = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
DESCRIPTION = "Send q=' OR 1=1 -- to /search and every row comes back."


def unacknowledged(product) -> Report:
    return make_report(product, acknowledge=False, description=DESCRIPTION).report


def fresh(report: Report) -> Report:
    return Report.objects.select_related("organisation", "product", "assignee").get(pk=report.pk)


def notices(report: Report) -> list[tuple[str, str, datetime]]:
    return [(n.clock, n.kind, n.due_at) for n in SlaNotice.objects.filter(report=report).order_by("id")]


def events(report: Report, kind: str) -> list[TimelineEvent]:
    return list(TimelineEvent.objects.filter(report=report, kind=kind).order_by("id"))


# --- when the sweep acts ----------------------------------------------------------------------

def test_nothing_happens_before_three_quarters_of_a_window(frozen_clock, product):
    report = unacknowledged(product)
    assert fresh(report).next_check_at == ACK_REMINDER
    frozen_clock.move(ACK_REMINDER - timedelta(seconds=1))
    result = deadlines_sweep()
    assert (result.reports_checked, result.reminders, result.misses, result.notice_ids) == (0, 0, 0, [])
    assert notices(report) == []
    assert events(report, EventKind.REMINDER_SENT) == []


def test_a_reminder_notice_is_created_at_three_quarters_of_the_window(frozen_clock, product):
    report = unacknowledged(product)
    frozen_clock.move(ACK_REMINDER)
    result = deadlines_sweep()
    assert (result.reports_checked, result.reminders, result.misses) == (1, 1, 0)
    assert notices(report) == [(SlaClock.ACKNOWLEDGEMENT, SlaNotice.Kind.REMINDER, ACK_DUE)]
    assert result.notice_ids == list(SlaNotice.objects.values_list("pk", flat=True))
    (event,) = events(report, EventKind.REMINDER_SENT)
    assert event.data == {"clock": "acknowledgement", "due_at": ACK_DUE.isoformat()}
    assert (event.actor_id, event.actor_label, event.is_public, event.at) == (None, "system", False, ACK_REMINDER)
    report = fresh(report)
    assert report.acknowledgement_missed is False
    # The reminder is out; the next look is the due moment itself.
    assert report.next_check_at == ACK_DUE


def test_a_missed_deadline_is_recorded_with_a_notice_an_event_and_the_flag(frozen_clock, product):
    report = unacknowledged(product)
    frozen_clock.move(ACK_REMINDER)
    deadlines_sweep()
    frozen_clock.move(ACK_DUE)
    result = deadlines_sweep()
    assert (result.reminders, result.misses) == (0, 1)
    assert notices(report) == [
        (SlaClock.ACKNOWLEDGEMENT, SlaNotice.Kind.REMINDER, ACK_DUE),
        (SlaClock.ACKNOWLEDGEMENT, SlaNotice.Kind.MISSED, ACK_DUE),
    ]
    (event,) = events(report, EventKind.DEADLINE_MISSED)
    assert event.data == {"clock": "acknowledgement", "due_at": ACK_DUE.isoformat()} and event.at == ACK_DUE
    report = fresh(report)
    assert report.acknowledgement_missed is True
    assert report.assessment_missed is False
    # The acknowledgement is recorded as missed; the next look is the assessment reminder.
    assert report.next_check_at == ASSESSMENT_REMINDER
    assert report.next_due_at == ACK_DUE  # still the nearest deadline of a running clock


def test_a_sweep_that_first_runs_after_the_due_moment_sends_only_the_miss(frozen_clock, product):
    report = unacknowledged(product)
    frozen_clock.move(ACK_DUE + timedelta(hours=1))
    result = deadlines_sweep()
    assert (result.reminders, result.misses) == (0, 1)
    assert notices(report) == [(SlaClock.ACKNOWLEDGEMENT, SlaNotice.Kind.MISSED, ACK_DUE)]


def test_several_clocks_are_handled_in_one_pass(frozen_clock, product):
    report = unacknowledged(product)
    frozen_clock.move(ASSESSMENT_DUE)
    result = deadlines_sweep()
    assert result.misses == 2
    assert sorted(notices(report)) == sorted([
        (SlaClock.ACKNOWLEDGEMENT, SlaNotice.Kind.MISSED, ACK_DUE),
        (SlaClock.ASSESSMENT, SlaNotice.Kind.MISSED, ASSESSMENT_DUE),
    ])
    report = fresh(report)
    assert report.acknowledgement_missed and report.assessment_missed
    assert report.next_check_at == NO_DEADLINE


def test_the_resolution_clock_is_reminded_and_missed(frozen_clock, product, triager):
    report = make_report(product).report
    report_transition(report=report, actor=triager, to=ReportState.ACCEPTED, cvss_vector=CRITICAL)
    due = MONDAY + timedelta(hours=72)
    frozen_clock.move(MONDAY + timedelta(hours=54))  # 75% of 72 hours
    assert deadlines_sweep().reminders == 1
    frozen_clock.move(due)
    assert deadlines_sweep().misses == 1
    assert notices(report) == [
        (SlaClock.RESOLUTION, SlaNotice.Kind.REMINDER, due),
        (SlaClock.RESOLUTION, SlaNotice.Kind.MISSED, due),
    ]
    assert fresh(report).resolution_missed is True


def test_a_closed_report_is_never_reminded(frozen_clock, product, triager):
    report = unacknowledged(product)
    report_transition(report=report, actor=triager, to=ReportState.ACKNOWLEDGED)
    report_transition(report=fresh(report), actor=triager, to=ReportState.INVALID)
    assert fresh(report).next_check_at == NO_DEADLINE
    frozen_clock.move(ASSESSMENT_DUE + timedelta(days=30))
    assert deadlines_sweep().reports_checked == 0
    assert notices(report) == []


def test_a_clock_met_before_its_reminder_is_not_reminded(frozen_clock, product, triager):
    report = unacknowledged(product)
    frozen_clock.move(ACK_REMINDER - timedelta(hours=1))
    report_transition(report=report, actor=triager, to=ReportState.ACKNOWLEDGED)
    assert fresh(report).next_check_at == ASSESSMENT_REMINDER
    frozen_clock.move(ASSESSMENT_REMINDER)
    deadlines_sweep()
    assert notices(report) == [(SlaClock.ASSESSMENT, SlaNotice.Kind.REMINDER, ASSESSMENT_DUE)]


# --- idempotence and the quiet queue ----------------------------------------------------------

def test_running_the_sweep_twice_creates_nothing_new(frozen_clock, product):
    report = unacknowledged(product)
    frozen_clock.move(ACK_DUE)
    first = deadlines_sweep()
    second = deadlines_sweep()
    assert first.misses == 1
    assert (second.reports_checked, second.reminders, second.misses, second.notice_ids) == (0, 0, 0, [])
    assert len(notices(report)) == 1
    assert len(events(report, EventKind.DEADLINE_MISSED)) == 1


def test_a_report_read_again_by_a_second_sweep_gets_no_second_notice(frozen_clock, product):
    # Two workers, or a crash before next_check_at was saved: the report is read again.
    report = unacknowledged(product)
    frozen_clock.move(ACK_REMINDER)
    deadlines_sweep()
    Report.objects.filter(pk=report.pk).update(next_check_at=ACK_REMINDER)
    again = deadlines_sweep()
    assert (again.reports_checked, again.reminders, again.notice_ids) == (1, 0, [])
    assert len(notices(report)) == 1
    assert len(events(report, EventKind.REMINDER_SENT)) == 1

    frozen_clock.move(ACK_DUE)
    deadlines_sweep()
    Report.objects.filter(pk=report.pk).update(next_check_at=ACK_DUE)
    again = deadlines_sweep()
    assert (again.reports_checked, again.misses, again.notice_ids) == (1, 0, [])
    assert len(events(report, EventKind.DEADLINE_MISSED)) == 1
    assert len(notices(report)) == 2


def test_a_quiet_queue_is_not_read(frozen_clock, product):
    reports = [unacknowledged(product) for _ in range(3)]
    frozen_clock.move(ACK_REMINDER + timedelta(hours=1))
    assert deadlines_sweep().reports_checked == 3
    for minute in range(1, 4):
        frozen_clock.advance(minutes=minute)
        assert deadlines_sweep().reports_checked == 0
    assert {fresh(report).next_check_at for report in reports} == {ACK_DUE}


def test_the_sweep_reads_only_reports_whose_check_time_has_come(frozen_clock, product):
    early = unacknowledged(product)
    frozen_clock.advance(hours=6)
    late = unacknowledged(product)
    frozen_clock.move(ACK_REMINDER)
    result = deadlines_sweep()
    assert result.reports_checked == 1
    assert len(notices(early)) == 1 and notices(late) == []
    assert fresh(late).next_check_at == ACK_REMINDER + timedelta(hours=6)


def test_the_sweep_walks_every_due_report_in_batches(frozen_clock, product):
    reports = [unacknowledged(product) for _ in range(5)]
    frozen_clock.move(ACK_REMINDER)
    result = deadlines_sweep(batch_size=2)
    assert (result.reports_checked, result.reminders) == (5, 5)
    assert all(len(notices(report)) == 1 for report in reports)


# --- recipients -------------------------------------------------------------------------------

def test_reminders_go_to_the_assignee_first(frozen_clock, organisation, triager, owner):
    product = make_product(organisation, security_contacts="security@example.org")
    report = unacknowledged(product)
    report_assign(report=report, actor=triager, assignee=triager.user)
    assert notice_recipients(fresh(report)) == [triager.user.email]


def test_without_an_assignee_reminders_go_to_the_product_security_contacts(frozen_clock, organisation, owner):
    product = make_product(organisation, security_contacts=" security@example.org, ,psirt@example.org ")
    assert notice_recipients(fresh(unacknowledged(product))) == ["security@example.org", "psirt@example.org"]


def test_without_assignee_or_contacts_reminders_go_to_owners_and_security_managers(frozen_clock, organisation, product):
    make_member(organisation, role="owner", email="zoe@example.org")
    make_member(organisation, role="security_manager", email="adam@example.org")
    make_member(organisation, role="triager", email="tim@example.org")
    make_member(make_organisation(), role="owner", email="other@example.org")
    assert notice_recipients(fresh(unacknowledged(product))) == ["adam@example.org", "zoe@example.org"]


def test_an_inactive_assignee_is_passed_over(frozen_clock, organisation, triager):
    product = make_product(organisation, security_contacts="security@example.org")
    report = unacknowledged(product)
    report_assign(report=report, actor=triager, assignee=triager.user)
    triager.user.is_active = False
    triager.user.save(update_fields=["is_active"])
    assert notice_recipients(fresh(report)) == ["security@example.org"]


# --- the e-mail, through a real SMTP server ---------------------------------------------------

def test_the_sla_sweep_task_mails_the_reminder_through_smtp(frozen_clock, smtp_sink, organisation, triager):
    product = make_product(organisation, name="Billing portal")
    report = unacknowledged(product)
    report_assign(report=report, actor=triager, assignee=triager.user)
    frozen_clock.move(ACK_REMINDER)

    assert sla_sweep.call() == {"checked": 1, "reminders": 1, "misses": 0}

    (mail,) = smtp_sink.wait_for(1)
    assert mail["to"] == [triager.user.email]
    message = mail["message"]
    assert message["Subject"] == f"[{report.reference}] acknowledgement due Wed 25 Nov, 10:00 CET"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert f"The acknowledgement deadline of {report.reference} is Wed 25 Nov 2026, 10:00 CET." in body
    assert "Product: Billing portal" in body
    assert f"/{organisation.slug}/" in body and f"/{report.number}" in body
    assert DESCRIPTION not in body and report.title not in body
    notice = SlaNotice.objects.get()
    assert notice.sent_at == ACK_REMINDER and notice.recipients == [triager.user.email]


def test_the_miss_mail_says_the_deadline_passed(frozen_clock, smtp_sink, organisation, owner, product):
    report = unacknowledged(product)
    frozen_clock.move(ACK_DUE + timedelta(minutes=1))
    sla_sweep.call()
    (mail,) = smtp_sink.wait_for(1)
    assert mail["to"] == [owner.user.email]
    assert mail["message"]["Subject"] == f"[{report.reference}] acknowledgement deadline missed"
    body = mail["message"].get_content()
    assert f"The acknowledgement deadline of {report.reference} passed on Wed 25 Nov 2026, 10:00 CET." in body
    assert DESCRIPTION not in body


def test_running_the_sweep_task_twice_sends_each_mail_once(frozen_clock, smtp_sink, organisation, owner, product):
    unacknowledged(product)
    frozen_clock.move(ACK_REMINDER)
    sla_sweep.call()
    frozen_clock.advance(minutes=1)
    assert sla_sweep.call() == {"checked": 0, "reminders": 0, "misses": 0}
    smtp_sink.wait_for(2, timeout=0.5)
    assert len(smtp_sink.messages) == 1


def test_a_notice_whose_delivery_was_lost_is_sent_by_the_next_sweep(frozen_clock, smtp_sink, organisation, owner, product):
    report = unacknowledged(product)
    frozen_clock.move(ACK_REMINDER)
    deadlines_sweep()  # the notice row exists, its delivery task never ran
    assert SlaNotice.objects.get().sent_at is None
    frozen_clock.advance(minutes=1)
    assert sla_sweep.call() == {"checked": 0, "reminders": 0, "misses": 0}
    (mail,) = smtp_sink.wait_for(1)
    assert mail["message"]["Subject"].startswith(f"[{report.reference}] acknowledgement due")
    assert SlaNotice.objects.get().sent_at is not None


def test_a_notice_with_nobody_to_tell_is_closed_without_mail(frozen_clock, smtp_sink, organisation, product):
    # The organisation has only a triager: no assignee, no contacts, no owner.
    make_member(organisation, role="triager")
    unacknowledged(product)
    frozen_clock.move(ACK_REMINDER)
    sla_sweep.call()
    notice = SlaNotice.objects.get()
    assert notice.sent_at == ACK_REMINDER and notice.recipients == []
    frozen_clock.advance(minutes=1)
    sla_sweep.call()  # not retried forever
    smtp_sink.wait_for(1, timeout=0.3)
    assert smtp_sink.messages == []


def test_each_report_gets_its_own_mail(frozen_clock, smtp_sink, organisation, owner):
    first = unacknowledged(make_product(organisation))
    second = unacknowledged(make_product(organisation))
    frozen_clock.move(ACK_REMINDER)
    sla_sweep.call()
    mails = smtp_sink.wait_for(2)
    subjects = sorted(mail["message"]["Subject"] for mail in mails)
    assert len(subjects) == 2
    assert subjects[0].startswith(f"[{first.reference}]") and subjects[1].startswith(f"[{second.reference}]")


def test_a_deadline_moved_past_its_reminder_point_is_still_reminded_before_the_miss(frozen_clock, product, triager):
    from vulndesk.reports.services import report_severity_change

    report = make_report(product).report
    report_transition(report=report, actor=triager, to=ReportState.ACCEPTED, severity="medium", reason="triage")
    frozen_clock.advance(days=12)
    deadlines_sweep()  # day 12 of a 28-day Medium window: nothing due yet
    report_severity_change(report=fresh(report), actor=triager, severity="high", reason="worse than thought")
    report = fresh(report)
    assert report.resolution_due_at == report.resolution_started_at + timedelta(days=14)
    assert report.next_check_at == frozen_clock.now  # the reminder point of the new window has passed
    deadlines_sweep()
    assert (SlaClock.RESOLUTION, SlaNotice.Kind.REMINDER, report.resolution_due_at) in notices(report)
    assert fresh(report).next_check_at == report.resolution_due_at
