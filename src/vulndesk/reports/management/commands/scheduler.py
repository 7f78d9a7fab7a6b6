import time

from django.conf import settings
from django.core.management.base import BaseCommand

from vulndesk.reports.tasks import sla_sweep


class Command(BaseCommand):
    help = ("Enqueue the SLA sweep every --interval seconds (default SLA_SWEEP_INTERVAL_SECONDS). "
            "django-tasks has no periodic scheduling, so this small loop runs beside db_worker.")

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=int, default=settings.SLA_SWEEP_INTERVAL_SECONDS)
        parser.add_argument("--once", action="store_true", help="Enqueue one sweep and exit.")

    def handle(self, *args, interval, once, **options):
        while True:
            sla_sweep.enqueue()
            if once:
                return
            time.sleep(max(interval, 5))
