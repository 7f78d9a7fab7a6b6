"""Encrypt the advisories' working text at rest.

Adds the sealed column, seals every existing advisory's title, summary, details, workarounds,
credits and references with its organisation's data key (bound to the advisory by the
associated data, exactly as ``Advisory.sealing_aad`` does), then drops the plaintext columns.
The public face (public_title, public_summary, public_document…) stays as it is: it is public.
"""

import json

from django.db import migrations, models

SEALED = ("title", "summary", "details", "workarounds", "credits", "references")


def seal_existing_rows(apps, schema_editor):
    from vulndesk.organisations import keys

    Advisory = apps.get_model("advisories", "Advisory")
    for advisory in Advisory.objects.all().iterator(chunk_size=500):
        payload = {name: getattr(advisory, name) for name in SEALED}
        payload["credits"], payload["references"] = list(payload["credits"] or []), list(payload["references"] or [])
        org = advisory.organisation_id
        advisory.sealed_draft = keys.seal(
            organisation_id=org, aad=f"advisory:{org}:{advisory.identifier}:sealed_draft",
            plaintext=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
        advisory.save(update_fields=["sealed_draft"])


def unseal_existing_rows(apps, schema_editor):
    from vulndesk.organisations import keys

    Advisory = apps.get_model("advisories", "Advisory")
    for advisory in Advisory.objects.all().iterator(chunk_size=500):
        if not advisory.sealed_draft:
            continue
        org = advisory.organisation_id
        payload = json.loads(keys.unseal(organisation_id=org, aad=f"advisory:{org}:{advisory.identifier}:sealed_draft",
                                         text=advisory.sealed_draft))
        for name in SEALED:
            setattr(advisory, name, payload.get(name, [] if name in {"credits", "references"} else ""))
        advisory.save(update_fields=list(SEALED))


class Migration(migrations.Migration):
    dependencies = [
        ("advisories", "0002_advisory_advisory_public_feed"),
        ("organisations", "0003_organisationkey"),
    ]

    operations = [
        migrations.AddField("advisory", "sealed_draft", models.TextField(blank=True, default="")),
        # The old columns get defaults first, so a reverse migration can re-create them on
        # existing rows before it writes them back.
        migrations.AlterField("advisory", "title", models.CharField(max_length=200, default="")),
        migrations.RunPython(seal_existing_rows, unseal_existing_rows),
        migrations.RemoveField("advisory", "title"),
        migrations.RemoveField("advisory", "summary"),
        migrations.RemoveField("advisory", "details"),
        migrations.RemoveField("advisory", "workarounds"),
        migrations.RemoveField("advisory", "credits"),
        migrations.RemoveField("advisory", "references"),
    ]
