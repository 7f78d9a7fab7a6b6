from django.core.management.base import BaseCommand, CommandError

from vulndesk.audit.selectors import audit_chain_problems


class Command(BaseCommand):
    help = "Work with the hash-chained audit trail. 'verify' checks that no entry was edited or deleted."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"], help="verify: recompute every hash in the chain")

    def handle(self, *args, **options):
        problems = audit_chain_problems()
        if problems:
            places = [f"entry {problem.entry_id}" if problem.entry_id else "chain head" for problem in problems]
            for where, problem in zip(places, problems, strict=True):
                self.stderr.write(f"{where}: {problem.problem}")
            # The error names the first break, so a caller that only sees the exception knows where to look.
            raise CommandError(f"audit chain is broken at {places[0]}: {len(problems)} problem(s)")
        self.stdout.write(self.style.SUCCESS("audit chain intact"))
