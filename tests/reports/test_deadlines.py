"""The SLA deadline rules of reports/deadlines.py: pure functions, no database, ``now`` passed in.

Dates used (2026 unless said): Mon 23 Nov; DST in Europe/Oslo starts Sun 29 Mar (02:00 -> 03:00)
and ends Sun 25 Oct (03:00 -> 02:00); Norwegian Easter holidays Thu 2 Apr - Mon 6 Apr (Germany
has only Good Friday and Easter Monday); Christmas Day Fri 25 Dec.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vulndesk.reports.deadlines import (
    ClockStatus,
    ResolutionDue,
    ResolutionTargets,
    business_days_between,
    business_deadline,
    clock_status,
    holiday_calendar,
    hours_deadline,
    reminder_at,
    resolution_deadline,
    resolution_deadline_after_severity_change,
)
from vulndesk.reports.severity import Severity

OSLO = ZoneInfo("Europe/Oslo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
JERUSALEM = ZoneInfo("Asia/Jerusalem")
NORWAY = holiday_calendar("NO")
GERMANY = holiday_calendar("DE")
WEEKENDS_ONLY = holiday_calendar("")
TARGETS = ResolutionTargets()


def oslo(*args) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def elapsed(earlier: datetime, later: datetime) -> timedelta:
    """Real time between two instants (subtracting datetimes of one zone gives wall-clock time)."""
    return later.astimezone(UTC) - earlier.astimezone(UTC)


def business(start, days, *, zone=OSLO, calendar=NORWAY):
    return business_deadline(start=start, business_days=days, zone=zone, calendar=calendar)


def resolution(severity, start, *, targets=TARGETS, next_release_on=None, zone=OSLO):
    return resolution_deadline(targets=targets, severity=severity, start=start, zone=zone,
                               next_release_on=next_release_on)


# --- business days ----------------------------------------------------------------------------

def test_one_business_day_after_friday_afternoon_is_monday_afternoon():
    assert business(oslo(2026, 11, 27, 15, 0), 1) == oslo(2026, 11, 30, 15, 0)


def test_five_business_days_from_monday_is_the_next_monday_at_the_same_time():
    assert business(oslo(2026, 11, 23, 9, 30), 5) == oslo(2026, 11, 30, 9, 30)


def test_business_days_skip_the_weekend_in_the_middle_of_the_window():
    # Wed -> Thu 1, Fri 2, Mon 3.
    assert business(oslo(2026, 11, 25, 11, 0), 3) == oslo(2026, 11, 30, 11, 0)


def test_christmas_day_and_boxing_day_are_not_business_days_in_norway():
    # Wed 23 Dec -> Thu 24 (1), [Fri 25, Sat 26, Sun 27 off], Mon 28 (2) ... Thu 31 (5).
    assert business(oslo(2026, 12, 23, 10, 0), 5) == oslo(2026, 12, 31, 10, 0)
    assert business(oslo(2026, 12, 23, 10, 0), 5, calendar=WEEKENDS_ONLY) == oslo(2026, 12, 30, 10, 0)


def test_the_norwegian_constitution_day_on_a_weekday_is_not_a_business_day():
    # 17 May 2029 is a Thursday and no other holiday: Norway skips it, Germany works.
    start = oslo(2029, 5, 16, 10, 0)
    assert business(start, 1, calendar=NORWAY) == oslo(2029, 5, 18, 10, 0)
    assert business(start, 1, calendar=GERMANY) == oslo(2029, 5, 17, 10, 0)


def test_the_organisation_country_decides_which_days_around_easter_are_holidays():
    # Wed 1 Apr 2026: Norway is off Thu 2 (Maundy Thursday) to Mon 6; Germany works on Thursday.
    start = oslo(2026, 4, 1, 10, 0)
    assert business(start, 1, calendar=NORWAY) == oslo(2026, 4, 7, 10, 0)
    assert business(start, 1, calendar=GERMANY, zone=BERLIN) == datetime(2026, 4, 2, 10, 0, tzinfo=BERLIN)
    assert business(start, 2, calendar=GERMANY, zone=BERLIN) == datetime(2026, 4, 7, 10, 0, tzinfo=BERLIN)


def test_a_regional_holiday_counts_only_for_that_subdivision():
    # Epiphany (Tue 6 Jan 2026) is a holiday in Bavaria, not in Germany as a whole.
    start = datetime(2026, 1, 5, 10, 0, tzinfo=BERLIN)
    assert business(start, 1, zone=BERLIN, calendar=holiday_calendar("DE")) == datetime(2026, 1, 6, 10, 0, tzinfo=BERLIN)
    assert business(start, 1, zone=BERLIN, calendar=holiday_calendar("DE", "BY")) == datetime(
        2026, 1, 7, 10, 0, tzinfo=BERLIN)


def test_a_start_on_saturday_counts_from_the_start_of_monday():
    assert business(oslo(2026, 11, 28, 16, 45), 1) == oslo(2026, 12, 1, 0, 0)
    assert business(oslo(2026, 11, 28, 16, 45), 5) == oslo(2026, 12, 7, 0, 0)


def test_a_start_on_a_public_holiday_counts_from_the_start_of_the_next_working_day():
    # Christmas Day is a Friday; the clock starts Mon 28 Dec 00:00, so 1 day is Tue 29 at 00:00.
    assert business(oslo(2026, 12, 25, 12, 0), 1) == oslo(2026, 12, 29, 0, 0)


def test_the_result_keeps_the_time_zone_of_the_start():
    start = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)  # Friday 15:00 in Oslo
    due = business(start, 1)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_a_naive_start_is_refused():
    with pytest.raises(ValueError, match="aware"):
        business(datetime(2026, 11, 23, 9, 0), 1)


# --- time zones -------------------------------------------------------------------------------

def test_the_same_instant_gives_different_deadlines_in_different_organisation_zones():
    # Fri 27 Nov 23:30 UTC is already Saturday 00:30 in Oslo, but still Friday 18:30 in New York.
    instant = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    in_oslo = business(instant, 5, zone=OSLO, calendar=WEEKENDS_ONLY)
    in_new_york = business(instant, 5, zone=NEW_YORK, calendar=WEEKENDS_ONLY)
    assert in_oslo == oslo(2026, 12, 7, 0, 0)  # weekend start: Monday 00:00 + 5 working days
    assert in_new_york == datetime(2026, 12, 4, 18, 30, tzinfo=NEW_YORK)  # next Friday, same wall time
    assert elapsed(in_new_york, in_oslo) == timedelta(hours=47, minutes=30)


def test_friday_ends_in_the_organisation_zone_not_in_utc():
    # 22:30 UTC on Friday is 23:30 Friday in Oslo: still a working day, wall time kept.
    assert business(datetime(2026, 11, 27, 22, 30, tzinfo=UTC), 1) == oslo(2026, 11, 30, 23, 30)


# --- daylight saving time ---------------------------------------------------------------------

def test_a_spring_dst_change_inside_the_window_keeps_the_wall_clock_time():
    # Wed 25 Mar 10:00 CET (09:00 UTC) -> Wed 1 Apr 10:00 CEST (08:00 UTC): 7 days less an hour.
    start = oslo(2026, 3, 25, 10, 0)
    due = business(start, 5)
    assert due == oslo(2026, 4, 1, 10, 0)
    assert due.astimezone(UTC) == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    assert elapsed(start, due) == timedelta(days=7, hours=-1)


def test_an_autumn_dst_change_inside_the_window_keeps_the_wall_clock_time():
    start = datetime(2026, 10, 21, 8, 0, tzinfo=UTC)  # Wed 10:00 CEST
    due = business(start, 5)
    assert due.astimezone(OSLO).time() == time(10, 0)
    assert due == datetime(2026, 10, 28, 9, 0, tzinfo=UTC)  # Wed 10:00 CET
    assert elapsed(start, due) == timedelta(days=7, hours=1)


def test_a_due_time_in_the_hour_skipped_by_dst_moves_forward_by_the_gap():
    # Israel springs forward on Friday 27 Mar 2026 at 02:00; 02:30 that night does not exist.
    start = datetime(2026, 3, 26, 2, 30, tzinfo=JERUSALEM)
    due = business(start, 1, zone=JERUSALEM, calendar=WEEKENDS_ONLY)
    assert due.astimezone(JERUSALEM).replace(tzinfo=None) == datetime(2026, 3, 27, 3, 30)
    assert due.utcoffset() == timedelta(hours=3)
    assert elapsed(start, due) == timedelta(hours=24)  # 02:30 IST and 03:30 IDT are both 00:30 UTC


def test_a_start_given_in_the_skipped_dst_hour_is_read_as_a_real_instant():
    # 02:30 on Sun 29 Mar does not exist in Oslo; Python reads it with the pre-change offset
    # (01:30 UTC). Sunday is a day off, so the clock starts Monday 00:00 CEST.
    start = oslo(2026, 3, 29, 2, 30)
    assert start.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert business(start, 1, calendar=WEEKENDS_ONLY) == oslo(2026, 3, 31, 0, 0)
    assert business(start, 1, calendar=WEEKENDS_ONLY).utcoffset() == timedelta(hours=2)


# --- calendar hours ---------------------------------------------------------------------------

def test_the_acknowledgement_clock_counts_calendar_hours_through_the_weekend():
    friday_evening = oslo(2026, 11, 27, 19, 0)
    assert hours_deadline(start=friday_evening, hours=48) == oslo(2026, 11, 29, 19, 0)


def test_calendar_hours_are_elapsed_hours_across_a_dst_change():
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert hours_deadline(start=start, hours=48) == datetime(2026, 3, 30, 12, 0, tzinfo=UTC)


# --- resolution by severity -------------------------------------------------------------------

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("severity", "window"), [
    (Severity.CRITICAL, timedelta(hours=72)),
    (Severity.HIGH, timedelta(days=14)),
    (Severity.MEDIUM, timedelta(days=28)),
])
def test_the_resolution_window_follows_the_severity(severity, window):
    assert resolution(severity, START) == START + window


def test_the_resolution_windows_come_from_the_policy_targets():
    targets = ResolutionTargets(critical_hours=24, high_days=7, medium_days=60)
    assert resolution(Severity.CRITICAL, START, targets=targets) == START + timedelta(hours=24)
    assert resolution(Severity.HIGH, START, targets=targets) == START + timedelta(days=7)
    assert resolution(Severity.MEDIUM, START, targets=targets) == START + timedelta(days=60)


def test_low_is_due_at_the_end_of_the_planned_release_day_in_the_organisation_zone():
    due = resolution(Severity.LOW, START, next_release_on=date(2026, 12, 10))
    assert due == oslo(2026, 12, 10, 23, 59)
    assert due.astimezone(UTC) == datetime(2026, 12, 10, 22, 59, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_low_with_no_planned_release_has_no_deadline_and_waits_for_a_release():
    assert resolution(Severity.LOW, START, next_release_on=None) == ResolutionDue.WAITING_FOR_RELEASE


def test_low_uses_the_day_target_when_the_policy_does_not_tie_it_to_a_release():
    targets = ResolutionTargets(low_in_next_release=False, low_days=90)
    assert resolution(Severity.LOW, START, targets=targets, next_release_on=None) == START + timedelta(days=90)
    assert resolution(Severity.LOW, START, targets=targets, next_release_on=date(2026, 12, 1)) == (
        START + timedelta(days=90))


# --- severity changed mid-window --------------------------------------------------------------

ACCEPTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def after_change(severity, changed_at, *, previous, next_release_on=None):
    return resolution_deadline_after_severity_change(
        targets=TARGETS, severity=severity, previous_severity=previous, accepted_at=ACCEPTED,
        changed_at=changed_at, zone=OSLO, next_release_on=next_release_on,
    )


def test_a_downgrade_keeps_the_acceptance_anchor():
    changed = ACCEPTED + timedelta(days=2)
    assert after_change(Severity.HIGH, changed, previous=Severity.CRITICAL) == ACCEPTED + timedelta(days=14)


def test_a_downgrade_whose_new_deadline_has_passed_keeps_it_and_does_not_restart_the_clock():
    # Critical missed its 72 hours; calling it High on day 20 must not buy a fresh fortnight.
    changed = ACCEPTED + timedelta(days=20)
    assert after_change(Severity.HIGH, changed, previous=Severity.CRITICAL) == ACCEPTED + timedelta(days=14)


def test_an_upgrade_whose_anchored_deadline_has_passed_runs_from_the_change():
    changed = ACCEPTED + timedelta(days=10)
    assert after_change(Severity.CRITICAL, changed, previous=Severity.MEDIUM) == changed + timedelta(hours=72)


def test_an_upgrade_whose_anchored_deadline_falls_exactly_at_the_change_runs_from_the_change():
    # A deadline equal to now is already missed (clock_status says so): not an instant miss.
    changed = ACCEPTED + timedelta(hours=72)
    assert after_change(Severity.CRITICAL, changed, previous=Severity.HIGH) == changed + timedelta(hours=72)


def test_an_upgrade_still_inside_the_new_window_keeps_the_acceptance_anchor():
    changed = ACCEPTED + timedelta(days=5)
    assert after_change(Severity.HIGH, changed, previous=Severity.MEDIUM) == ACCEPTED + timedelta(days=14)
    assert after_change(Severity.CRITICAL, ACCEPTED + timedelta(hours=1), previous=Severity.LOW) == (
        ACCEPTED + timedelta(hours=72))


def test_a_downgrade_to_low_without_a_planned_release_waits_for_a_release():
    changed = ACCEPTED + timedelta(days=1)
    assert after_change(Severity.LOW, changed, previous=Severity.MEDIUM) == ResolutionDue.WAITING_FOR_RELEASE
    assert after_change(Severity.LOW, changed, previous=Severity.MEDIUM, next_release_on=date(2026, 12, 1)) == (
        oslo(2026, 12, 1, 23, 59))


# --- clock status -----------------------------------------------------------------------------

CLOCK_START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CLOCK_DUE = CLOCK_START + timedelta(hours=100)


def status(now, done_at=None, fraction_percent=75):
    return clock_status(start=CLOCK_START, due=CLOCK_DUE, done_at=done_at, now=now, fraction_percent=fraction_percent)


def test_a_clock_before_three_quarters_of_its_window_is_on_track():
    assert status(CLOCK_START) == ClockStatus.ON_TRACK
    assert status(CLOCK_START + timedelta(hours=74, minutes=59)) == ClockStatus.ON_TRACK


def test_a_clock_at_three_quarters_of_its_window_is_at_risk():
    assert reminder_at(start=CLOCK_START, due=CLOCK_DUE, fraction_percent=75) == CLOCK_START + timedelta(hours=75)
    assert status(CLOCK_START + timedelta(hours=75)) == ClockStatus.AT_RISK
    assert status(CLOCK_DUE - timedelta(seconds=1)) == ClockStatus.AT_RISK


def test_the_at_risk_point_follows_the_policy_fraction():
    assert status(CLOCK_START + timedelta(hours=50), fraction_percent=50) == ClockStatus.AT_RISK
    assert status(CLOCK_START + timedelta(hours=89), fraction_percent=90) == ClockStatus.ON_TRACK


def test_a_clock_is_missed_from_its_due_moment_on():
    assert status(CLOCK_DUE) == ClockStatus.MISSED
    assert status(CLOCK_DUE + timedelta(days=3)) == ClockStatus.MISSED


def test_a_clock_done_by_its_due_moment_is_met_whatever_the_time_now():
    assert status(CLOCK_DUE + timedelta(days=9), done_at=CLOCK_DUE) == ClockStatus.MET
    assert status(CLOCK_START + timedelta(hours=1), done_at=CLOCK_START + timedelta(minutes=5)) == ClockStatus.MET


def test_a_clock_done_after_its_due_moment_is_met_late():
    assert status(CLOCK_DUE + timedelta(days=1), done_at=CLOCK_DUE + timedelta(seconds=1)) == ClockStatus.MET_LATE


# --- business days between (the "due in N business days" wording) ----------------------------

def test_business_days_between_counts_working_days_after_the_start_up_to_the_end():
    assert business_days_between(start=date(2026, 11, 27), end=date(2026, 11, 30), calendar=NORWAY) == 1
    assert business_days_between(start=date(2026, 12, 23), end=date(2026, 12, 31), calendar=NORWAY) == 5
    assert business_days_between(start=date(2026, 11, 30), end=date(2026, 11, 30), calendar=NORWAY) == 0
    assert business_days_between(start=date(2026, 12, 1), end=date(2026, 11, 30), calendar=NORWAY) == 0


# --- property ---------------------------------------------------------------------------------

ZONES = ["Europe/Oslo", "America/New_York", "Asia/Tokyo", "Asia/Kolkata", "Pacific/Auckland", "UTC"]
COUNTRIES = ["NO", "DE", "US", ""]


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    business_days=st.integers(min_value=1, max_value=20),
    zone_name=st.sampled_from(ZONES),
    country=st.sampled_from(COUNTRIES),
)
def test_a_business_deadline_is_always_a_working_day_in_the_organisation_zone_and_after_the_start(
    start, business_days, zone_name, country
):
    zone, calendar = ZoneInfo(zone_name), holiday_calendar(country)
    due = business(start, business_days, zone=zone, calendar=calendar)
    assert due > start
    local_due = due.astimezone(zone).date()
    assert calendar.is_working_day(local_due)
    # Exactly ``business_days`` working days lie after the start's local day up to the due day,
    # counting the start day itself when the start fell on a day off.
    local_start = start.astimezone(zone).date()
    counted = business_days_between(start=local_start, end=local_due, calendar=calendar)
    expected = business_days if calendar.is_working_day(local_start) else business_days + 1
    assert counted == expected


def test_an_organisation_without_a_holiday_country_has_weekends_but_no_holidays():
    assert WEEKENDS_ONLY.is_working_day(date(2026, 12, 25))  # Christmas Day, a Friday
    assert not WEEKENDS_ONLY.is_working_day(date(2026, 12, 26))  # a Saturday
    assert not NORWAY.is_working_day(date(2026, 12, 25))
