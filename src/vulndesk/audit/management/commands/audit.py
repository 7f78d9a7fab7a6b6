from django.core.management.base import BaseCommand, CommandError

from vulndesk.audit.selectors import audit_chain_problems


class Command(BaseCommand):
    help = "Work with the hash-chained audit trail. 'verify' checks that no entry was edited or deleted."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"], help="verify: recompute every hash in the chain")

    def handle(self, *args, **options):
        problems = audit_chain_problems()
        if problems:
            for problem in problems:
                where = f"entry {problem.entry_id}" if problem.entry_id else "chain head"
                self.stderr.write(f"{where}: {problem.problem}")
            raise CommandError(f"audit chain is broken: {len(problems)} problem(s)")
        self.stdout.write(self.style.SUCCESS("audit chain intact"))
