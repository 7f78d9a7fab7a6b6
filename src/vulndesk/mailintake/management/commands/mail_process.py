"""Process stored mail now: what the periodic sweep does, on demand (e.g. after a crash)."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from vulndesk.mailintake.services import inbound_pending_ids, inbound_process, mail_sweep


class Command(BaseCommand):
    help = ("Process every received message that is stored but not yet processed (safe to run at any "
            "time, also in several processes at once: each message is imported once). With --sweep, also "
            "re-send failed acknowledgements and staff replies not yet mailed.")

    def add_arguments(self, parser):
        parser.add_argument("--sweep", action="store_true", help="Run the whole periodic sweep.")

    def handle(self, *args, sweep, **options):
        if sweep:
            result = mail_sweep(older_than=timedelta(0))
            self.stdout.write(f"processed {result.processed}, acknowledgements retried "
                              f"{result.acknowledgements_retried}, replies sent {result.replies_sent}")
            return
        states: dict[str, int] = {}
        for message_id in inbound_pending_ids(older_than=timedelta(0), limit=100_000):
            state = inbound_process(message_id=message_id)
            states[state] = states.get(state, 0) + 1
        self.stdout.write(", ".join(f"{state}: {count}" for state, count in sorted(states.items())) or "nothing to do")
