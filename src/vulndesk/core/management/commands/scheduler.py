import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from vulndesk.core.periodic import PERIODIC_TASKS

PRUNE_EVERY_SECONDS = 6 * 60 * 60


class Command(BaseCommand):
    help = ("Enqueue the periodic tasks (SLA sweep, scheduled advisories) every --interval seconds (default "
            "SLA_SWEEP_INTERVAL_SECONDS) and prune "
            "finished task results older than 7 days every 6 hours. django-tasks has no periodic scheduling, "
            "so this small loop runs beside db_worker.")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=int, default=settings.SLA_SWEEP_INTERVAL_SECONDS,
                            help="Seconds between two rounds of periodic tasks (default: %(default)s).")
        parser.add_argument("--once", action="store_true", help="Enqueue each periodic task once and exit.")

    def handle(self, *args, interval, once, **options):
        last_prune = 0.0
        while True:
            for task in PERIODIC_TASKS:
                task.enqueue()
            if once:
                return
            if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                # A sweep a minute leaves 10,000 result rows a week; keep the table small.
                call_command("prune_db_task_results", min_age_days=7, verbosity=0)
                last_prune = time.monotonic()
            time.sleep(max(interval, 5))
