"""Encrypt report contents and messages at rest.

Adds the sealed columns, seals every existing row with its organisation's data key (so an
installation upgraded from 0001 loses nothing), then drops the plaintext columns.
"""

import json

import django.db.models.deletion
from django.db import migrations, models

REPORT_BODY_FIELDS = ("description", "steps_to_reproduce", "impact", "suggested_fix", "reporter_name",
                      "reporter_email", "reporter_handle")


def seal_existing_rows(apps, schema_editor):
    from vulndesk.organisations import keys
    from vulndesk.organisations.sealing import search_tokens

    Report = apps.get_model("reports", "Report")
    Message = apps.get_model("reports", "Message")
    for report in Report.objects.all().iterator(chunk_size=500):
        org = report.organisation_id

        def seal(column, payload, report=report, org=org):
            return keys.seal(organisation_id=org, aad=f"report:{org}:{report.number}:{column}",
                             plaintext=json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())

        report.sealed_title = seal("sealed_title", {"title": report.title})
        report.sealed_contents = seal("sealed_contents", {name: getattr(report, name) for name in REPORT_BODY_FIELDS})
        report.search_index = search_tokens(organisation_id=org, text=report.title)
        report.save(update_fields=["sealed_title", "sealed_contents", "search_index"])
    for message in Message.objects.select_related("report").iterator(chunk_size=500):
        org = message.report.organisation_id
        message.organisation_id = org
        message.sealed_body = keys.seal(organisation_id=org, aad=f"message:{org}:{message.report_id}:sealed_body",
                                        plaintext=json.dumps({"body": message.body}, ensure_ascii=False).encode())
        message.save(update_fields=["organisation", "sealed_body"])


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0003_organisationkey"),
        ("reports", "0001_initial"),
    ]

    operations = [
        migrations.AddField("report", "sealed_title", models.TextField(default="")),
        migrations.AddField("report", "sealed_contents", models.TextField(default="")),
        migrations.AddField("report", "search_index", models.TextField(blank=True, default="")),
        migrations.AddField("message", "sealed_body", models.TextField(default="")),
        migrations.AddField("message", "organisation", models.ForeignKey(
            null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+",
            to="organisations.organisation")),
        migrations.RunPython(seal_existing_rows, migrations.RunPython.noop),
        migrations.AlterField("message", "organisation", models.ForeignKey(
            on_delete=django.db.models.deletion.CASCADE, related_name="+", to="organisations.organisation")),
        migrations.RemoveField("report", "title"),
        migrations.RemoveField("report", "description"),
        migrations.RemoveField("report", "steps_to_reproduce"),
        migrations.RemoveField("report", "impact"),
        migrations.RemoveField("report", "suggested_fix"),
        migrations.RemoveField("report", "reporter_name"),
        migrations.RemoveField("report", "reporter_email"),
        migrations.RemoveField("report", "reporter_handle"),
        migrations.RemoveField("message", "body"),
    ]
