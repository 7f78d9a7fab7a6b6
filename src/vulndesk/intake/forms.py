"""The public report form. Every field is hostile input: lengths are bounded here, text is
stored as typed and rendered inert (autoescaped) everywhere."""

from django import forms
from django.conf import settings

from vulndesk.attachments.forms import AttachmentsField, attachments_help
from vulndesk.attachments.inspection import UploadRefused, inspect_upload, safe_filename
from vulndesk.pgp.keys import KeyRefused, public_key_inspect

TEXT_LIMIT = settings.REPORT_TEXT_MAX_CHARS


def _text(label: str, *, required: bool = False, rows: int = 6, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label, required=required, max_length=TEXT_LIMIT, help_text=help_text, strip=False,
        widget=forms.Textarea(attrs={"rows": rows, "spellcheck": "false"}),
    )


class PublicReportForm(forms.Form):
    title = forms.CharField(
        label="Summary", max_length=settings.REPORT_TITLE_MAX_CHARS,
        help_text="One line: what is wrong, and where. E.g. \u201cStored XSS in the comment preview\u201d.",
    )
    affected_versions = forms.CharField(
        label="Affected version", required=False, max_length=200,
        help_text="The version you tested, e.g. 2.4.1.",
    )
    description = _text("What did you find?", required=True, rows=8,
                        help_text="Describe the vulnerability. Plain text; nothing you type is run or rendered as HTML.")
    steps_to_reproduce = _text("Steps to reproduce", help_text="Optional. Numbered steps, requests or a proof of concept.")
    impact = _text("Impact", rows=4, help_text="Optional. What can an attacker do with it?")
    suggested_fix = _text("Suggested fix", rows=4, help_text="Optional.")
    reporter_name = forms.CharField(label="Your name", required=False, max_length=200,
                                    help_text="Optional. Leave empty to report anonymously.")
    reporter_email = forms.EmailField(label="Your e-mail", required=False, max_length=254,
                                      help_text="Optional. Only used to reach you about this report.")
    reporter_handle = forms.CharField(label="Handle for credit", required=False, max_length=100,
                                      help_text="Optional. How you would like to be credited.")
    reporter_pgp_key = forms.CharField(
        label="Your OpenPGP public key", required=False, max_length=settings.PGP_PUBLIC_KEY_MAX_BYTES, strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off", "class": "mono"}),
        help_text="Optional. Paste your public key (gpg --export --armor <your e-mail>, from -----BEGIN PGP PUBLIC "
                  "KEY BLOCK----- to the END line) and the e-mails we send you about this report are encrypted to it.")
    attachments = AttachmentsField(label="Attachments", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"].help_text = "Optional. " + attachments_help()

    def clean_attachments(self):
        # Checked by content before anything is stored, so a refused file never leaves a
        # report half-filed; the reason names the file.
        files = self.cleaned_data.get("attachments") or []
        for upload in files:
            try:
                inspect_upload(upload.file, upload.size)
            except UploadRefused as refusal:
                raise forms.ValidationError(f"{safe_filename(upload.name)}: {refusal} Your text is kept; "
                                            "choose the files again.") from None
        return files

    def clean_reporter_pgp_key(self):
        # Checked with gpg before anything is filed (a refused key loses nothing of the report);
        # the checked key (``keys.PublicKeyInfo``) replaces the text.
        text = self.cleaned_data.get("reporter_pgp_key") or ""
        if not text:
            return None
        try:
            return public_key_inspect(text)
        except KeyRefused as refusal:
            raise forms.ValidationError(f"{refusal.message} Your report is not sent yet; everything else you typed "
                                        "is kept.") from None

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):  # a copy: add_error() removes the field from cleaned
            # NUL and other C0 controls (except tab/newline) have no place in a report and
            # break some databases and terminals; refuse rather than silently strip.
            if isinstance(value, str) and any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
                self.add_error(name, "Remove control characters (such as NUL) from this field.")
        return cleaned


class ReporterMessageForm(forms.Form):
    body = forms.CharField(label="Your message", max_length=50_000, strip=False,
                           widget=forms.Textarea(attrs={"rows": 4}))
