"""Forms of the OpenPGP settings page: they check shape only; ``pgp.keys`` checks the keys."""

from django import forms
from django.conf import settings


def _no_controls(value: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise forms.ValidationError("Remove line breaks and other control characters.")
    return value


class KeyGenerateForm(forms.Form):
    name = forms.CharField(label="Name on the key", min_length=5, max_length=100,
                           help_text="Shown to reporters in their mail program, e.g. “Acme security team”.")
    email = forms.EmailField(label="E-mail address on the key", required=False, max_length=254,
                             help_text="Your security address, so mail programs find the key for it.")
    years = forms.TypedChoiceField(label="Valid for", coerce=int, initial=2,
                                   choices=[(1, "1 year"), (2, "2 years"), (3, "3 years"), (5, "5 years")],
                                   help_text="Renew by generating a new key before it expires.")

    def clean_name(self):
        name = _no_controls(self.cleaned_data["name"].strip())
        if "<" in name or ">" in name:
            raise forms.ValidationError("Leave out < and >: the e-mail address has its own field.")
        return name


class KeyImportForm(forms.Form):
    secret_key = forms.CharField(
        label="Secret key (ASCII-armored)", max_length=settings.PGP_SECRET_KEY_MAX_BYTES, strip=True,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off", "class": "mono"}),
        help_text="The output of gpg --export-secret-keys --armor <fingerprint>, from "
                  "-----BEGIN PGP PRIVATE KEY BLOCK----- to the END line.")
    passphrase = forms.CharField(
        label="Its passphrase", required=False, max_length=1000, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Empty for a key without one. vulndesk protects the key with its own random passphrase "
                  "afterwards; this one is not stored.")
