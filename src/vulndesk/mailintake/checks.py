"""Start-up checks of the mail intake's operator settings: a typo in the list of internal
networks the IMAP poller may reach is named when vulndesk starts, not at the first poll."""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


@register()
def imap_allowed_networks_check(app_configs=None, **kwargs):
    from vulndesk.mailintake.imap import allowed_networks

    try:
        allowed_networks()
    except ImproperlyConfigured as error:
        return [Error(str(error), id="mailintake.E001",
                      hint="List CIDRs separated by commas, e.g. 10.0.5.0/24,fd00:5::/64, or leave it empty.")]
    return []
