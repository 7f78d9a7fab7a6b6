"""Encrypt downstream contacts and pre-notification recipients at rest.

Adds the sealed columns, the per-row sealing id and the keyed address index; seals every
existing contact (name, address, PGP note) and recipient (name, address) with its
organisation's data key, bound to the row exactly as the models' ``sealing_aad`` do; then drops
the plaintext columns and makes the address unique per organisation through its index.
"""

import hashlib
import hmac
import json
import uuid

from django.db import migrations, models


def _seal(keys, org: int, aad: str, payload: dict) -> str:
    return keys.seal(organisation_id=org, aad=aad,
                     plaintext=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def seal_existing_rows(apps, schema_editor):
    from vulndesk.organisations import keys

    Contact = apps.get_model("prenotify", "DownstreamContact")
    PreNotification = apps.get_model("prenotify", "PreNotification")
    for contact in Contact.objects.all().iterator(chunk_size=500):
        org = contact.organisation_id
        contact.seal_id = uuid.uuid4()
        contact.sealed_contact = _seal(keys, org, f"downstream_contact:{org}:{contact.seal_id}:sealed_contact",
                                       {"name": contact.name, "email": contact.email, "pgp_note": contact.pgp_note})
        contact.email_index = hmac.new(keys.search_key(org), contact.email.strip().lower().encode(),
                                       hashlib.sha256).hexdigest()
        contact.save(update_fields=["seal_id", "sealed_contact", "email_index"])
    for row in PreNotification.objects.all().iterator(chunk_size=500):
        org = row.organisation_id
        row.sealed_recipient = _seal(keys, org, f"prenotification:{org}:{row.token_hash}:sealed_recipient",
                                     {"name": row.recipient_name, "email": row.recipient_email})
        row.save(update_fields=["sealed_recipient"])


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0003_organisationkey"),
        ("prenotify", "0001_initial"),
    ]

    operations = [
        migrations.AddField("downstreamcontact", "seal_id", models.UUIDField(null=True, editable=False)),
        migrations.AddField("downstreamcontact", "sealed_contact", models.TextField(blank=True, default="")),
        migrations.AddField("downstreamcontact", "email_index",
                            models.CharField(default="", editable=False, max_length=64)),
        migrations.AddField("prenotification", "sealed_recipient", models.TextField(blank=True, default="")),
        # One way: the plaintext columns are gone afterwards, as for reports (reports 0002).
        migrations.RunPython(seal_existing_rows, migrations.RunPython.noop),
        migrations.AlterField("downstreamcontact", "seal_id",
                              models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
        migrations.RemoveConstraint("downstreamcontact", "downstream_contact_email_once"),
        migrations.RemoveField("downstreamcontact", "email"),
        migrations.RemoveField("downstreamcontact", "name"),
        migrations.RemoveField("downstreamcontact", "pgp_note"),
        migrations.RemoveField("prenotification", "recipient_email"),
        migrations.RemoveField("prenotification", "recipient_name"),
        migrations.AlterModelOptions("downstreamcontact", options={"ordering": ["id"]}),
        migrations.AddConstraint("downstreamcontact", models.UniqueConstraint(
            fields=("organisation", "email_index"), name="downstream_contact_email_once")),
    ]
