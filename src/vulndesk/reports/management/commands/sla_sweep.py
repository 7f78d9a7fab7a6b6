from django.core.management.base import BaseCommand

from vulndesk.reports.tasks import sla_sweep


class Command(BaseCommand):
    help = "Run the SLA sweep now, in this process: record missed deadlines and send due reminders."

    def handle(self, *args, **options):
        result = sla_sweep.call()
        self.stdout.write(f"checked {result['checked']} report(s): {result['reminders']} reminder(s), "
                          f"{result['misses']} miss(es) recorded")
