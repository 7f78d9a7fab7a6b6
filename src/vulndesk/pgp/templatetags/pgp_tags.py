"""What OpenPGP said about received mail, for the mail intake's pages (which know nothing of
OpenPGP): one query per page, then a dictionary lookup per message."""

from django import template

from vulndesk.pgp.selectors import message_security_by_inbound, reporter_key_current

register = template.Library()


@register.simple_tag
def mail_security_for(messages) -> dict:
    """``{% mail_security_for inbound as securities %}``: inbound message id -> MessageSecurity."""
    messages = [m for m in (messages if isinstance(messages, list | tuple) else [messages]) if m is not None]
    if not messages:
        return {}
    return message_security_by_inbound(organisation_id=messages[0].organisation_id,
                                       inbound_ids=[m.pk for m in messages])


@register.filter
def security_of(securities: dict, inbound_id):
    return securities.get(inbound_id) if securities else None


@register.filter
def fingerprint_groups(fingerprint: str) -> str:
    fingerprint = (fingerprint or "").upper()
    return " ".join(fingerprint[i:i + 4] for i in range(0, len(fingerprint), 4))


@register.simple_tag
def reporter_key_for(report):
    """``{% reporter_key_for report as key %}``: the key mail to the reporter is encrypted to."""
    return reporter_key_current(report=report) if report is not None else None
