"""Writes of the mail intake, by topic (re-exported here):

* ``inbound``: store received mail durably, process it once (reports, replies, quarantine,
  machine mail);
* ``acknowledgements``: the acknowledgement of a new report (and its retry without the link);
* ``threads``: reply addresses and the Message-IDs of a report's thread;
* ``review``: staff decisions on held and quarantined mail, audited downloads;
* ``outbound``: staff replies as threaded e-mail;
* ``addresses``: the intake addresses;
* ``upkeep``: SMTP rate limits, the periodic sweep, key rotation.
"""

from vulndesk.mailintake.services.acknowledgements import acknowledgement_retry, acknowledgement_send
from vulndesk.mailintake.services.addresses import intake_address_add, intake_address_deactivate
from vulndesk.mailintake.services.inbound import (
    Delivery,
    inbound_process,
    inbound_raw,
    inbound_raw_buffer,
    inbound_raw_chunks,
    inbound_store_batch,
)
from vulndesk.mailintake.services.outbound import staff_reply_send
from vulndesk.mailintake.services.review import (
    inbound_approve,
    inbound_convert,
    inbound_download_record,
    inbound_reject,
)
from vulndesk.mailintake.services.upkeep import (
    RateVerdict,
    inbound_pending_ids,
    inbound_raw_reencrypt,
    mail_rate_check,
    mail_sweep,
)

__all__ = [
    "Delivery", "RateVerdict", "acknowledgement_retry", "acknowledgement_send", "inbound_approve", "inbound_convert",
    "inbound_download_record", "inbound_pending_ids", "inbound_process", "inbound_raw", "inbound_raw_buffer", "inbound_raw_chunks",
    "inbound_raw_reencrypt", "inbound_reject", "inbound_store_batch", "intake_address_add",
    "intake_address_deactivate", "mail_rate_check", "mail_sweep", "staff_reply_send",
]
