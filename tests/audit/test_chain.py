"""The audit trail is a SHA-256 hash chain: editing, deleting or truncating rows is detected by
``audit.selectors.audit_chain_problems`` and by ``vulndesk audit verify``."""

import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from vulndesk.audit.chain import GENESIS_HASH, entry_digest
from vulndesk.audit.models import AuditChainHead, AuditEntry
from vulndesk.audit.selectors import ChainProblem, audit_chain_problems
from vulndesk.audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(frozen_clock) -> list[AuditEntry]:
    entries = []
    for n in range(1, 6):
        entries.append(audit_record(action="report.transition", organisation_id=7, actor_id=3,
                                    actor_label="tria@example.org", target_type="report", target_id=n,
                                    ip_address="192.0.2.10", data={"from": "acknowledged", "to": "accepted"}))
        frozen_clock.advance(minutes=1)
    return entries


def _digest(entry: AuditEntry) -> str:
    entry.refresh_from_db()
    return entry_digest(previous_hash=entry.previous_hash, at=entry.at, organisation_id=entry.organisation_id,
                        actor_id=entry.actor_id, actor_label=entry.actor_label, action=entry.action,
                        target_type=entry.target_type, target_id=entry.target_id, ip_address=entry.ip_address,
                        data=entry.data)


def test_each_entry_is_chained_to_the_hash_of_the_one_before(chain):
    assert chain[0].previous_hash == GENESIS_HASH
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.previous_hash == before.entry_hash
    assert all(re.fullmatch(r"[0-9a-f]{64}", entry.entry_hash) for entry in chain)
    assert len({entry.entry_hash for entry in chain}) == len(chain)
    assert AuditChainHead.objects.get(pk=1).entry_hash == chain[-1].entry_hash


def test_an_entry_hash_covers_its_stored_content(chain):
    assert all(_digest(entry) == entry.entry_hash for entry in chain)


def test_the_same_content_after_a_different_predecessor_gets_a_different_hash():
    fields = dict(at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC), organisation_id=1, actor_id=None, actor_label="", action="x", target_type="",
                  target_id="", ip_address=None, data={})
    assert entry_digest(previous_hash=GENESIS_HASH, **fields) != entry_digest(previous_hash="f" * 64, **fields)


def test_an_intact_chain_has_no_problems(chain):
    assert audit_chain_problems() == []


def test_an_intact_chain_has_no_problems_across_batch_boundaries(chain):
    assert audit_chain_problems(batch_size=2) == []


def test_an_empty_trail_has_no_problems(db):
    assert audit_chain_problems() == []


def test_editing_an_entrys_data_is_detected_at_that_entry(chain):
    AuditEntry.objects.filter(pk=chain[2].pk).update(data={"from": "acknowledged", "to": "invalid"})

    assert audit_chain_problems() == [
        ChainProblem(chain[2].pk, "content does not match its hash (the row was edited)")
    ]


def test_editing_an_entry_and_recomputing_its_hash_still_breaks_the_next_link(chain):
    tampered = chain[1]
    AuditEntry.objects.filter(pk=tampered.pk).update(actor_label="someone-else@example.org")
    AuditEntry.objects.filter(pk=tampered.pk).update(entry_hash=_digest(tampered))

    problems = audit_chain_problems()

    assert [problem.entry_id for problem in problems] == [chain[2].pk]
    assert "deleted or inserted" in problems[0].problem


def test_deleting_a_middle_entry_is_detected_at_the_entry_after_it(chain):
    AuditEntry.objects.filter(pk=chain[2].pk).delete()

    assert audit_chain_problems(batch_size=2) == [
        ChainProblem(chain[3].pk, "does not follow the entry before it (a row was deleted or inserted)")
    ]


def test_deleting_the_first_entry_is_detected(chain):
    AuditEntry.objects.filter(pk=chain[0].pk).delete()

    assert [problem.entry_id for problem in audit_chain_problems()] == [chain[1].pk]


def test_deleting_the_last_entry_is_detected_by_the_chain_head(chain):
    AuditEntry.objects.filter(pk=chain[-1].pk).delete()

    assert audit_chain_problems() == [
        ChainProblem(None, "the newest entries were deleted (chain head does not match the last row)")
    ]


def test_a_new_entry_after_verification_continues_the_chain(chain, frozen_clock):
    entry = audit_record(action="organisation.create", organisation_id=8)
    assert entry.previous_hash == chain[-1].entry_hash
    assert audit_chain_problems() == []


def test_audit_verify_reports_an_intact_chain(chain):
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "audit chain intact" in out.getvalue()


def test_audit_verify_fails_naming_the_edited_entry(chain):
    AuditEntry.objects.filter(pk=chain[3].pk).update(target_id="999")
    err = StringIO()

    with pytest.raises(CommandError, match=rf"\bentry {chain[3].pk}\b"):
        call_command("audit", "verify", stderr=err)
    assert f"entry {chain[3].pk}: content does not match its hash" in err.getvalue()


def test_audit_verify_fails_naming_the_chain_head_when_the_newest_entry_is_gone(chain):
    AuditEntry.objects.filter(pk=chain[-1].pk).delete()

    with pytest.raises(CommandError, match="chain head"):
        call_command("audit", "verify", stderr=StringIO())


@pytest.mark.parametrize("given, stored", [
    ("unknown", None),  # what client_ip says for a request without REMOTE_ADDR (a unix socket)
    ("", None),
    ("<script>alert(1)</script>", None),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    (" 192.0.2.10 ", "192.0.2.10"),
])
def test_an_address_is_stored_as_an_ip_address_or_not_at_all_and_the_chain_holds(db, given, stored):
    # PostgreSQL's inet column refuses anything but an address (SQLite kept any text), and gives
    # an address back in its canonical form: the hash is computed over what is stored.
    entry = audit_record(action="report.read", organisation_id=7, target_type="report", target_id=1,
                         ip_address=given)
    entry.refresh_from_db()
    assert entry.ip_address == stored
    assert audit_chain_problems() == []
