"""Forms check the shape of input only; services apply the rules (address check, SSRF guard)."""

from django import forms

from vulndesk.notifications.addresses import ADDRESS_MAX_CHARS
from vulndesk.notifications.egress import URL_MAX_CHARS
from vulndesk.notifications.models import ADVISORY_EVENTS, Event


class SubscribeForm(forms.Form):
    email = forms.EmailField(label="Your e-mail address", max_length=ADDRESS_MAX_CHARS,
                             help_text="We send a confirmation link first; nothing else until you confirm.")


class WebhookForm(forms.Form):
    url = forms.CharField(label="Payload URL", max_length=URL_MAX_CHARS, strip=True,
                          help_text="https only, port 443 or 8443, on a public host.",
                          widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/vulndesk",
                                                       "spellcheck": "false"}))
    events = forms.MultipleChoiceField(label="Events", widget=forms.CheckboxSelectMultiple,
                                       choices=[(event.value, event.label) for event in Event
                                                if event in ADVISORY_EVENTS],
                                       initial=list(ADVISORY_EVENTS))
    description = forms.CharField(label="Description", required=False, max_length=200,
                                  help_text="Optional. Who receives this, for your colleagues.")


class WebhookEditForm(WebhookForm):
    is_active = forms.BooleanField(label="Active", required=False,
                                   help_text="Inactive webhooks get no deliveries; pending ones are cancelled.")
