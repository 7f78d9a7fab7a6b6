from django.apps import AppConfig


class MailIntakeConfig(AppConfig):
    name = "vulndesk.mailintake"
    label = "mailintake"
    verbose_name = "Mail intake"

    def ready(self):
        from vulndesk.core.periodic import register_periodic
        from vulndesk.mailintake import checks, receivers  # noqa: F401 (checks registers itself)
        from vulndesk.mailintake.models import ImapMailbox, InboundMessage, MailThread, ThreadMessageId
        from vulndesk.mailintake.services import inbound_raw_reencrypt
        from vulndesk.mailintake.tasks import imap_poll_due, mail_sweep
        from vulndesk.organisations.sealing import ROTATION_HOOKS, SEALED_MODELS
        from vulndesk.reports import services as report_services

        # Key rotation re-seals the envelope data, the IMAP credentials, and re-encrypts the
        # stored raw messages.
        SEALED_MODELS.extend(m for m in (InboundMessage, MailThread, ThreadMessageId, ImapMailbox)
                             if m not in SEALED_MODELS)
        if inbound_raw_reencrypt not in ROTATION_HOOKS:
            ROTATION_HOOKS.append(inbound_raw_reencrypt)

        # Staff replies leave as e-mail: reports.services sends ``message_posted`` after commit.
        report_services.message_posted.connect(receivers.on_message_posted, dispatch_uid="mailintake.message_posted")

        register_periodic(mail_sweep)
        register_periodic(imap_poll_due)
