"""Rebuild the OSV query index from the public documents (after an upgrade that changes the
version rules, or for advisories published before the index existed)."""

from django.core.management.base import BaseCommand

from vulndesk.osv.services import osv_index_rebuild


class Command(BaseCommand):
    help = "Rebuild the OSV query index of every published or withdrawn advisory."

    def handle(self, *args, **options):
        rows = osv_index_rebuild()
        self.stdout.write(self.style.SUCCESS(f"OSV index rebuilt: {rows} rows."))
