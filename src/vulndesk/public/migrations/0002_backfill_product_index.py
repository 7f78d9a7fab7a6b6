"""Fill the product index for advisories published before this app's publish hook existed."""

from django.db import migrations


def backfill(apps, schema_editor):
    Advisory = apps.get_model("advisories", "Advisory")
    Product = apps.get_model("products", "Product")
    PublicAdvisoryProduct = apps.get_model("public", "PublicAdvisoryProduct")
    rows = Advisory.objects.filter(is_public=True, published_at__isnull=False).only(
        "id", "organisation_id", "published_at", "public_product_ids")
    for advisory in rows.iterator(chunk_size=2000):
        product_ids = Product.objects.filter(organisation_id=advisory.organisation_id,
                                             pk__in=advisory.public_product_ids or []).values_list("pk", flat=True)
        PublicAdvisoryProduct.objects.bulk_create(
            [PublicAdvisoryProduct(organisation_id=advisory.organisation_id, product_id=product_id,
                                   advisory_id=advisory.pk, published_at=advisory.published_at)
             for product_id in product_ids],
            ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("public", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
