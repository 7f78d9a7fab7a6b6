"""Writes of the mail intake, by topic (re-exported here):

* ``inbound``: store received mail durably, process it once (reports, replies, quarantine,
  machine mail);
* ``acknowledgements``: the acknowledgement of a new report (and its retry without the link);
* ``threads``: reply addresses and the Message-IDs of a report's thread;
* ``review``: staff decisions on held and quarantined mail (opening encrypted mail again),
  audited downloads;
* ``outbound``: staff replies as threaded e-mail;
* ``addresses``: the intake addresses;
* ``imap``: mailboxes at the organisation's own provider, polled over IMAP;
* ``upkeep``: SMTP rate limits, the periodic sweep, key rotation.
"""

from vulndesk.mailintake.services.acknowledgements import acknowledgement_retry, acknowledgement_send
from vulndesk.mailintake.services.addresses import intake_address_add, intake_address_deactivate
from vulndesk.mailintake.services.imap import (
    MailboxSettings,
    imap_mailbox_add,
    imap_mailbox_check,
    imap_mailbox_poll,
    imap_mailbox_set_enabled,
    imap_mailbox_update,
    imap_poll_request,
)
from vulndesk.mailintake.services.inbound import (
    Delivery,
    inbound_parse,
    inbound_process,
    inbound_raw,
    inbound_raw_buffer,
    inbound_raw_chunks,
    inbound_store_batch,
    inbound_store_deliveries,
)
from vulndesk.mailintake.services.outbound import staff_reply_send
from vulndesk.mailintake.services.review import (
    inbound_approve,
    inbound_convert,
    inbound_download_record,
    inbound_openpgp_quarantined,
    inbound_reject,
    inbound_reopen,
)
from vulndesk.mailintake.services.upkeep import (
    RateVerdict,
    inbound_pending_ids,
    inbound_raw_reencrypt,
    mail_rate_check,
    mail_sweep,
)

__all__ = [
    "Delivery", "MailboxSettings", "RateVerdict", "acknowledgement_retry", "acknowledgement_send",
    "imap_mailbox_add", "imap_mailbox_check", "imap_mailbox_poll", "imap_mailbox_set_enabled",
    "imap_mailbox_update", "imap_poll_request", "inbound_approve", "inbound_convert",
    "inbound_download_record", "inbound_openpgp_quarantined", "inbound_parse", "inbound_pending_ids",
    "inbound_process", "inbound_raw", "inbound_raw_buffer", "inbound_raw_chunks", "inbound_raw_reencrypt", "inbound_reject", "inbound_reopen",
    "inbound_store_batch", "inbound_store_deliveries", "intake_address_add", "intake_address_deactivate",
    "mail_rate_check", "mail_sweep", "staff_reply_send",
]
