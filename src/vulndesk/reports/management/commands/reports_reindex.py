"""Rebuild the derived tables of reports from the reports themselves: the word-search token rows
(from each report's blind index; nothing is decrypted) and the per-state counters of the queue
header. Needed after a bulk import that wrote report rows directly, or to repair them; the
services keep both in step on their own."""

from django.core.management.base import BaseCommand, CommandError

from vulndesk.organisations.models import Organisation
from vulndesk.reports.services import report_search_tokens_rebuild, report_state_counts_rebuild


class Command(BaseCommand):
    help = ("Rebuild the word-search token rows and the per-state report counters from the reports "
            "(after a bulk import, or to repair them). Safe while vulndesk runs; each batch is its own transaction.")

    def add_arguments(self, parser):
        parser.add_argument("--organisation", metavar="SLUG", help="Only this organisation (default: all).")
        parser.add_argument("--search", action="store_true", help="Only the word-search token rows.")
        parser.add_argument("--counts", action="store_true", help="Only the per-state counters.")
        parser.add_argument("--batch-size", type=int, default=2000,
                            help="Reports per transaction when rebuilding the token rows (default 2000).")

    def handle(self, *args, organisation, search, counts, batch_size, **options):
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be between 1 and 100000.")
        organisation_id = None
        if organisation is not None:
            found = Organisation.objects.filter(slug=organisation).values_list("pk", flat=True).first()
            if found is None:
                raise CommandError(f"No organisation with the slug {organisation[:60]!r}.")
            organisation_id = found
        both = not (search or counts)
        if search or both:
            rows = report_search_tokens_rebuild(organisation_id=organisation_id, batch_size=batch_size)
            self.stdout.write(f"search tokens rebuilt: {rows} rows")
        if counts or both:
            rows = report_state_counts_rebuild(organisation_id=organisation_id)
            self.stdout.write(f"state counters rebuilt: {rows} rows")
        self.stdout.write(self.style.SUCCESS("done"))
