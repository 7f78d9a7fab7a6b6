"""Run vulndesk: web server, background worker and SLA scheduler, together."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Apply migrations, then start the web server (gunicorn), the task worker (db_worker), the "
            "scheduler and the inbound SMTP server (security@ mailbox) as one unit. Ctrl-C stops them all.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("VULNDESK_HOST", "127.0.0.1"),
                            help="Address the web server listens on (default: VULNDESK_HOST or 127.0.0.1).")
        parser.add_argument("--port", type=int, default=int(os.environ.get("VULNDESK_PORT", "8000")),
                            help="Port of the web server (default: VULNDESK_PORT or 8000).")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
        parser.add_argument("--demo", action="store_true", help="Create the demo organisation if it is missing.")
        parser.add_argument("--no-migrate", action="store_true", help="Skip applying migrations.")
        parser.add_argument("--smtp-port", type=int, default=int(os.environ.get("MAIL_INTAKE_PORT", "0")),
                            help="Port of the inbound SMTP server (security@ mailbox); 0: a free loopback port.")

    def handle(self, *args, host, port, workers, demo, no_migrate, smtp_port, **options):
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        if demo:
            call_command("demo")
        vulndesk = [sys.executable, "-m", "vulndesk.cli"]
        processes = {
            "web": subprocess.Popen([
                sys.executable, "-m", "gunicorn", "vulndesk.wsgi:application", "--bind", f"{host}:{port}",
                # No gunicorn access log: paths carry tracking tokens; core.logs.AccessLogMiddleware
                # writes a redacted one.
                "--workers", str(workers), "--threads", "4", "--log-level", "warning",
            ]),
            # Polls an empty queue every 0.1 s (django-tasks-db's default is 1 s): a report
            # mailed in is filed and acknowledged at once, not up to a second later. The poll
            # is one indexed read; a queue with work is not polled, the next task runs at once.
            "worker": subprocess.Popen([*vulndesk, "db_worker", "--no-reload", "--interval", "0.1"]),
            "scheduler": subprocess.Popen([*vulndesk, "scheduler"]),
            # The security@ mailbox; it prints the address it listens on.
            "smtpd": subprocess.Popen([*vulndesk, "smtpd", "--port", str(smtp_port)]),
        }
        self.stdout.write(self.style.SUCCESS(f"vulndesk is running on http://{host}:{port}/  (data: {settings.DATA_DIR})"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping vulndesk")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
