"""Encryption at rest: the database alone reveals no report text, envelopes are bound to their
rows, search works through the blind index, and keys rotate without losing anything."""

import base64
import os
import secrets

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection

from tests.factories.core import make_member, make_report
from vulndesk.attachments.models import Attachment
from vulndesk.attachments.services import attachment_add, attachment_chunks, attachment_name
from vulndesk.core import crypto
from vulndesk.organisations import keys
from vulndesk.organisations.models import OrganisationKey
from vulndesk.reports.models import Message, Report
from vulndesk.reports.selectors import QueueFilters, reports_for_queue
from vulndesk.reports.services import message_post, reporter_message_post

SENTINELS = {
    "title": "Zebraquokka title sentinel",
    "description": "Platypusnarwhal description sentinel",
    "steps_to_reproduce": "Axolotlpangolin steps sentinel",
    "impact": "Okapitapir impact sentinel",
    "suggested_fix": "Quetzalcoati fix sentinel",
    "reporter_name": "Wombatlemur Reporter",
    "reporter_email": "sentinel.reporter@example.net",
    "reporter_handle": "kinkajoufossa",
}
MESSAGE_TEXT = "Capybaramarmot message sentinel"


def _all_raw_text() -> str:
    """Every value of every table, as the database holds it."""
    chunks = []
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names come from introspection
            for row in cursor.fetchall():
                chunks.extend(str(value) if not isinstance(value, bytes | memoryview) else bytes(value).hex()
                              for value in row)
    return "\n".join(chunks)


def test_the_database_alone_does_not_reveal_report_text(frozen_clock, organisation, product, triager):
    created = make_report(product, **SENTINELS)
    message_post(report=created.report, actor=triager, body=MESSAGE_TEXT, is_internal=False)
    reporter_message_post(report=created.report, body=MESSAGE_TEXT + " reply")
    attachment_add(report=created.report, upload=SimpleUploadedFile("Dugongibis-secret-name.txt", b"poc\n"),
                   actor=triager)
    raw = _all_raw_text()
    for value in [*SENTINELS.values(), MESSAGE_TEXT, "Dugongibis"]:
        for word in value.split():
            if len(word) > 8:  # the distinctive words; "sentinel" itself may not appear either
                assert word not in raw, word
    # ... while the application reads it all back.
    report = Report.objects.get(pk=created.report.pk)
    assert {name: getattr(report, name) for name in SENTINELS} == SENTINELS
    assert sorted(m.body for m in Message.objects.filter(report=report)) == [MESSAGE_TEXT, MESSAGE_TEXT + " reply"]
    assert attachment_name(Attachment.objects.get()) == "Dugongibis-secret-name.txt"


def test_an_envelope_moved_to_another_row_does_not_decrypt(frozen_clock, product):
    first, second = make_report(product).report, make_report(product).report
    Report.objects.filter(pk=second.pk).update(sealed_contents=first.sealed_contents)
    moved = Report.objects.get(pk=second.pk)
    with pytest.raises(crypto.DecryptionFailed):
        _ = moved.description


def test_a_tampered_envelope_does_not_decrypt(frozen_clock, product):
    report = make_report(product).report
    prefix, version, body = report.sealed_title.split(".", 2)
    blob = bytearray(base64.b64decode(body))
    blob[-1] ^= 1
    Report.objects.filter(pk=report.pk).update(sealed_title=f"{prefix}.{version}.{base64.b64encode(bytes(blob)).decode()}")
    with pytest.raises(crypto.DecryptionFailed):
        _ = Report.objects.get(pk=report.pk).title


def test_each_organisation_has_its_own_data_key(frozen_clock, db):
    a, b = make_report().report, make_report().report
    assert a.organisation_id != b.organisation_id
    key_a = keys.data_key(a.organisation_id, keys.envelope_version(a.sealed_title))
    key_b = keys.data_key(b.organisation_id, keys.envelope_version(b.sealed_title))
    assert key_a != key_b
    # The wrapped keys in the table are not the keys.
    stored = bytes(OrganisationKey.objects.get(organisation_id=a.organisation_id).wrapped_key)
    assert key_a not in stored


def test_the_queue_finds_titles_by_whole_words_through_the_blind_index(frozen_clock, organisation, product, triager):
    make_report(product, title="Stored XSS in the comment preview")
    make_report(product, title="SQL injection in search")
    def titles(q):
        page = reports_for_queue(member=triager, filters=QueueFilters(q=q))
        return sorted(r.title for r in page.reports)
    assert titles("xss") == ["Stored XSS in the comment preview"]
    assert titles("Comment preview") == ["Stored XSS in the comment preview"]
    assert titles("in") == ["SQL injection in search", "Stored XSS in the comment preview"]
    assert titles("injection xss") == []
    assert titles("injec") == []  # no substring search on encrypted titles
    assert titles("%") == []


def test_rotation_reencrypts_everything_and_retires_the_old_key(frozen_clock, organisation, product, triager):
    created = make_report(product, **SENTINELS)
    message_post(report=created.report, actor=triager, body=MESSAGE_TEXT, is_internal=True)
    attachment = attachment_add(report=created.report, upload=SimpleUploadedFile("trace.txt", b"stack\n" * 1000),
                                actor=triager)
    old_storage_key = attachment.storage_key
    assert keys.envelope_version(Report.objects.get().sealed_title) == 1

    call_command("keys", "rotate", organisation=organisation.slug, settle_seconds=0, stdout=open(os.devnull, "w"))
    keys.forget_cached_keys()

    report = Report.objects.get()
    assert keys.envelope_version(report.sealed_title) == 2
    assert keys.envelope_version(report.sealed_contents) == 2
    assert keys.envelope_version(Message.objects.get().sealed_body) == 2
    assert {name: getattr(report, name) for name in SENTINELS} == SENTINELS
    assert Message.objects.get().body == MESSAGE_TEXT
    moved = Attachment.objects.get()
    assert (moved.key_version, moved.storage_key != old_storage_key) == (2, True)
    assert b"".join(attachment_chunks(moved)) == b"stack\n" * 1000
    assert attachment_name(moved) == "trace.txt"
    assert OrganisationKey.objects.get(organisation=organisation, version=1).retired_at is not None
    assert keys.current_key_version(organisation.pk) == 2
    # Search still works after rotation (the index key is stable).
    page = reports_for_queue(member=triager, filters=QueueFilters(q="Zebraquokka"))
    assert [r.pk for r in page.reports] == [report.pk]


def test_rows_written_with_the_old_key_stay_readable_during_a_rotation(frozen_clock, organisation, product):
    before = make_report(product, title="Written before").report
    keys.organisation_key_create(organisation_id=organisation.pk)  # step 1 of a rotation
    after = make_report(product, title="Written after").report
    assert keys.envelope_version(before.sealed_title) == 1
    assert keys.envelope_version(after.sealed_title) == 2
    keys.forget_cached_keys()
    assert [r.title for r in Report.objects.order_by("pk")] == ["Written before", "Written after"]


def test_rewrap_moves_every_data_key_to_a_new_kek(frozen_clock, organisation, product, monkeypatch):
    report = make_report(product, title="Survives a KEK change").report
    old = crypto.key_encryption_keys()
    new_kek = base64.b64encode(secrets.token_bytes(32)).decode()
    old_entries = ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in old.keys.items())
    monkeypatch.setenv("VULNDESK_KEKS", f"k9:{new_kek},{old_entries}")
    crypto.key_encryption_keys.cache_clear()
    call_command("keys", "rewrap", stdout=open(os.devnull, "w"))
    assert set(OrganisationKey.objects.values_list("kek_id", flat=True)) == {"k9"}
    # The old KEK can now be removed from the configuration.
    monkeypatch.setenv("VULNDESK_KEKS", f"k9:{new_kek}")
    crypto.key_encryption_keys.cache_clear()
    keys.forget_cached_keys()
    assert Report.objects.get(pk=report.pk).title == "Survives a KEK change"
    crypto.key_encryption_keys.cache_clear()


def test_a_missing_kek_is_a_clear_configuration_error(frozen_clock, product, monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    report = make_report(product).report
    monkeypatch.setenv("VULNDESK_KEKS", "k7:" + base64.b64encode(secrets.token_bytes(32)).decode())
    crypto.key_encryption_keys.cache_clear()
    keys.forget_cached_keys()
    with pytest.raises(ImproperlyConfigured, match="not configured in VULNDESK_KEKS"):
        _ = Report.objects.get(pk=report.pk).title
    crypto.key_encryption_keys.cache_clear()


@pytest.mark.parametrize("bad", ["k1:not-base64!", "k1:" + base64.b64encode(b"short").decode(), "", "bad id:AAAA"])
def test_malformed_kek_configuration_is_refused(bad, monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        crypto._parse_keks(bad)


def test_a_member_of_the_same_organisation_reads_what_another_wrote(frozen_clock, organisation, product):
    author = make_member(organisation, role="triager")
    report = make_report(product).report
    message_post(report=report, actor=author, body="shared", is_internal=False)
    keys.forget_cached_keys()  # as a fresh process would
    assert Message.objects.get().body == "shared"
