"""Forms of the mail pages: they check shape only; services check the rules."""

from django import forms
from django.conf import settings

from vulndesk.mailintake.models import ImapSecurity


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


class ImapMailboxForm(forms.Form):
    """An IMAP mailbox to poll. Shape only (lengths, types); ``services.imap`` checks the rules
    (host form, TLS for anything but loopback, folders, certificate, one route)."""

    name = forms.CharField(label="Name", max_length=100, help_text="For you, e.g. security@ at our provider.")
    address = forms.ModelChoiceField(
        label="Counts as mail to", queryset=None, required=False, empty_label="(none: file into a product)",
        help_text="The intake address this mailbox receives for: mail is filed exactly as if sent to it, its reply "
                  "and product sub-addresses included, and acknowledgements come from it.")
    product = forms.ModelChoiceField(label="Or file reports into", queryset=None, required=False,
                                     empty_label="(choose an address above instead)",
                                     help_text="Only for an organisation without an intake address.")
    host = forms.CharField(label="IMAP server", max_length=253,
                           help_text="Host name only, e.g. imap.example.org. A server on the public internet; "
                                     "one on an internal network only if this installation's administrator "
                                     "allowed that network.")
    security = forms.ChoiceField(label="Security", choices=ImapSecurity.choices, initial=ImapSecurity.TLS)
    port = forms.IntegerField(label="Port", min_value=1, max_value=65535, initial=993)
    username = forms.CharField(label="User name", max_length=254,
                               widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    password = forms.CharField(
        label="Password", max_length=512, required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}))
    folder = forms.CharField(label="Folder to read", max_length=200, initial="INBOX")
    processed_folder = forms.CharField(
        label="Move imported mail to (optional)", max_length=200, required=False,
        help_text="An existing folder. Empty: imported mail stays where it is, marked with the keyword "
                  "$VulndeskImported (your mail client shows it as a tag).")
    trusted_certificate = forms.CharField(
        label="Trust this certificate (optional)", max_length=20_000, required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        help_text="Only for a server you run yourself with a self-signed or internal certificate: paste its "
                  "certificate or CA in PEM form. It then replaces the public CAs for this mailbox.")
    import_since = forms.DateField(
        label="Import mail received since (optional)", required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Older mail in the folder is left alone. Empty: everything not yet imported, old mail included.")
    poll_interval_minutes = forms.IntegerField(label="Poll every (minutes)", min_value=1, max_value=1440, initial=5)

    def __init__(self, *args, addresses, products, has_password: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["address"].queryset = addresses
        self.fields["product"].queryset = products
        self.fields["password"].help_text = (
            "Stored encrypted and never shown. Leave empty to keep the stored one; it must be typed again when the "
            "server, port, security, user name or certificate changes." if has_password
            else "Stored encrypted and never shown again. An app password, if your provider offers them.")
