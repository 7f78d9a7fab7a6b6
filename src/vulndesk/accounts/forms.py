from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    username = forms.EmailField(label="E-mail address", max_length=254,
                                widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"}))


class OneTimeCodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=40,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class TotpConfirmForm(forms.Form):
    code = forms.CharField(
        label="Code from your app", max_length=6, min_length=6,
        help_text="Enter the 6-digit code your authenticator app shows after scanning.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]{6}"}),
    )
