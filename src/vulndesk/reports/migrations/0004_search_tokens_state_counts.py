"""The word-search token table and the per-state counters, filled from the existing reports.

The token rows come from each report's blind index (``search_index``, keyed hashes already):
nothing is decrypted. ``vulndesk reports_search_reindex`` and ``reports_recount`` do the same
later if ever needed.
"""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    Report = apps.get_model("reports", "Report")
    ReportSearchToken = apps.get_model("reports", "ReportSearchToken")
    ReportStateCount = apps.get_model("reports", "ReportStateCount")
    last_id = 0
    while True:
        batch = list(Report.objects.filter(id__gt=last_id).order_by("id")
                     .values_list("id", "organisation_id", "search_index")[:2000])
        if not batch:
            break
        ReportSearchToken.objects.bulk_create([
            ReportSearchToken(organisation_id=organisation_id, report_id=report_id,
                              token=int.from_bytes(bytes.fromhex(token), "big", signed=True))
            for report_id, organisation_id, index in batch for token in index.split()
        ], batch_size=500)
        last_id = batch[-1][0]
    ReportStateCount.objects.bulk_create([
        ReportStateCount(organisation_id=row["organisation_id"], product_id=row["product_id"], state=row["state"],
                         count=row["n"])
        for row in Report.objects.values("organisation_id", "product_id", "state")
        .annotate(n=models.Count("id")).order_by()
    ], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ('organisations', '0003_organisationkey'),
        ('products', '0003_policy_disclosure_days'),
        ('reports', '0003_report_disclosure_due_at_report_disclosure_missed_and_more'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportSearchToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.BigIntegerField()),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='organisations.organisation')),
                ('report', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='search_tokens', to='reports.report')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('organisation', 'token', 'report'), name='report_search_token_unique')],
            },
        ),
        migrations.CreateModel(
            name='ReportStateCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('state', models.CharField(choices=[('new', 'New'), ('acknowledged', 'Acknowledged'), ('accepted', 'Accepted'), ('duplicate', 'Duplicate'), ('invalid', 'Invalid'), ('out_of_scope', 'Out of scope'), ('wont_fix', "Won't fix"), ('fixing', 'Fixing'), ('fixed', 'Fixed'), ('disclosed', 'Disclosed')], max_length=16)),
                ('count', models.IntegerField(default=0)),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='organisations.organisation')),
                ('product', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='products.product')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('organisation', 'product', 'state'), name='report_state_count_unique')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
