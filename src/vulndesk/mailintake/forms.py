"""Forms of the mail pages: they check shape only; services check the rules."""

from django import forms
from django.conf import settings


class IntakeAddressForm(forms.Form):
    local_part = forms.CharField(label="Address (before the @)", max_length=64, initial="security",
                                 help_text="E.g. security. Sub-addresses security+<product>@ and the reports' "
                                           "reply addresses security+r-…@ come with it.")
    domain = forms.CharField(label="Domain", max_length=253, help_text="E.g. example.org. Point its MX (or your "
                             "mail server's forwarding) at vulndesk's SMTP port.")
    product = forms.ModelChoiceField(label="Files reports into", queryset=None, empty_label=None)
    accepts_product_tags = forms.BooleanField(label="Accept security+<product-slug>@ for the other products",
                                              required=False, initial=True)

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products


class ConvertForm(forms.Form):
    product = forms.ModelChoiceField(label="Product", queryset=None, empty_label=None)
    title = forms.CharField(label="Title", max_length=settings.REPORT_TITLE_MAX_CHARS)
    description = forms.CharField(label="Description", max_length=settings.REPORT_TEXT_MAX_CHARS, strip=False,
                                  widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
                                  help_text="What you could read of the message. The original stays attached.")
    reporter_name = forms.CharField(label="Reporter name", max_length=200, required=False)
    reporter_email = forms.EmailField(label="Reporter e-mail", max_length=254, required=False)
    send_acknowledgement = forms.BooleanField(
        label="Send the reporter the acknowledgement with the tracking link", required=False, initial=True)

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products
