"""Run the mail intake's SMTP server alone (production: behind the site's MTA)."""

import signal
import threading
from datetime import timedelta

from django.core.management.base import BaseCommand

from vulndesk.mailintake.server import DEFAULT_MAX_BYTES, MailServer, setting
from vulndesk.mailintake.services import inbound_pending_ids
from vulndesk.mailintake.tasks import process_inbound_messages


class Command(BaseCommand):
    help = ("Receive security reports by e-mail: an SMTP server for the intake addresses configured under "
            "Mail in each organisation. Refuses unknown recipients (550), over-large messages (552) and "
            "senders over their rate limit (451/421); stores every accepted message encrypted before "
            "answering 250. Messages left unprocessed by an earlier run are queued again at start.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None,
                            help="Address to listen on (default MAIL_INTAKE_HOST, 127.0.0.1).")
        parser.add_argument("--port", type=int, default=None,
                            help="Port to listen on (default MAIL_INTAKE_PORT; 0 picks a free port, printed at start).")

    def handle(self, *args, host, port, **options):
        server = MailServer(host=host, port=port)
        # Restart recovery: whatever a crash left stored but unprocessed is processed now
        # (processing is idempotent, so a task still queued for it does no harm).
        pending = inbound_pending_ids(older_than=timedelta(0))
        if pending:
            process_inbound_messages.enqueue(message_ids=pending)
        server.start()
        megabytes = setting("MAX_BYTES", DEFAULT_MAX_BYTES) / (1024 * 1024)
        self.stdout.write(self.style.SUCCESS(
            f"vulndesk mail intake listening on smtp://{server.host}:{server.port}/ (messages up to {megabytes:g} MB)"))
        self.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
