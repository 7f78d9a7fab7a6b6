"""Poll the IMAP mailboxes configured under Mail > Addresses: now, or in a loop."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from vulndesk.mailintake.services.imap import BATCH_SIZE, imap_mailbox_poll, imap_mailboxes_due_ids


class Command(BaseCommand):
    help = ("Import new mail from the IMAP mailboxes that organisations poll at their own mail provider. Each "
            "message is stored encrypted (one durable commit per batch) and queued for processing exactly like "
            "mail received by `vulndesk smtpd`; only then is it marked on the server ($VulndeskImported keyword, "
            "and a move to the processed folder when one is set). Safe to stop or kill at any moment and to run "
            "again: a message stored but not yet marked is recognised by its Message-ID and only marked. Without "
            "--once it keeps polling each enabled mailbox at its interval (what `vulndesk scheduler` also does "
            "through the task worker).")

    def add_arguments(self, parser):
        parser.add_argument("--mailbox", type=int, default=None, metavar="ID",
                            help="Poll only this mailbox (its id is in its edit page's address), even if its "
                                 "interval has not passed yet.")
        parser.add_argument("--once", action="store_true",
                            help="Poll once and exit (every enabled mailbox, or --mailbox), whatever the intervals.")
        parser.add_argument("--interval", type=int, default=30, metavar="SECONDS",
                            help="Without --once: how often to look for mailboxes due (default 30).")
        parser.add_argument("--batch", type=int, default=BATCH_SIZE, metavar="N",
                            help=f"Messages stored per durable commit (default {BATCH_SIZE}).")

    def handle(self, *args, mailbox, once, interval, batch, **options):
        if batch < 1 or batch > 1000:
            raise CommandError("--batch takes 1 to 1000.")
        if interval < 5:
            raise CommandError("--interval takes at least 5 seconds.")
        if once:
            ids = [mailbox] if mailbox is not None else imap_mailboxes_due_ids(everything=True)
            failed = self._poll(ids, batch)
            if failed:
                raise CommandError(f"{failed} mailbox(es) could not be polled; see above.")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.is_set():
            due = imap_mailboxes_due_ids()
            self._poll([i for i in due if mailbox is None or i == mailbox], batch, quiet=True)
            stop.wait(interval)

    def _poll(self, ids: list[int], batch: int, *, quiet: bool = False) -> int:
        if not ids and not quiet:
            self.stdout.write("no mailbox to poll")
        failed = 0
        for mailbox_id in ids:
            outcome = imap_mailbox_poll(mailbox_id=mailbox_id, batch_size=batch)
            line = f"mailbox {mailbox_id}: {outcome.summary()}"
            if outcome.state in {"ok", "busy"}:
                self.stdout.write(line)
            else:
                failed += 1
                self.stderr.write(line)
            self.stdout.flush()
        return failed
