"""Forms check shape (type, length, choice); services check the rules (hostile characters,
duplicates, embargo bounds)."""

from django import forms

from vulndesk.prenotify.models import ContactKind
from vulndesk.prenotify.services import EMAIL_MAX_CHARS, NAME_MAX_CHARS, PGP_NOTE_MAX_CHARS


class ContactForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_CHARS, label="Name",
                           help_text="The team or person, e.g. 'Debian Security Team'.")
    email = forms.EmailField(max_length=EMAIL_MAX_CHARS, label="E-mail address",
                             help_text="Where the pre-notification goes, e.g. security@vendor.example.")
    kind = forms.ChoiceField(choices=ContactKind.choices, label="Kind")
    pgp_note = forms.CharField(
        required=False, max_length=PGP_NOTE_MAX_CHARS, label="PGP note (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="A key fingerprint or where to find their key. The mail itself carries only the identifier, "
                  "title and embargo date; the advisory stays behind the private link.",
    )


class _ContactChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} — {obj.email} ({obj.get_kind_display()})"


class SendForm(forms.Form):
    contacts = _ContactChoice(queryset=None, widget=forms.CheckboxSelectMultiple, label="Recipients",
                              error_messages={"required": "Choose at least one contact.",
                                              "invalid_choice": "Choose contacts of this organisation."})
    expires_at = forms.DateTimeField(
        required=False, label="Link expires (optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: when the embargo ends. Earlier is allowed, later is not. In your organisation's time zone.",
    )

    def __init__(self, *args, contacts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contacts"].queryset = contacts
