"""Forms check shape only; the rules (https, short-name syntax, CVE ID syntax) live in
``cve.rules`` and are applied by the services."""

from django import forms


class CnaAccountForm(forms.Form):
    endpoint_url = forms.CharField(
        max_length=300, label="CVE Services API address",
        help_text="https://cveawg.mitre.org/api/ for production, https://cveawg-test.mitre.org/api/ for the test "
                  "instance.")
    short_name = forms.CharField(max_length=32, label="CNA short name",
                                 help_text="Your CNA's short name at CVE Services (the CVE-API-ORG header).")
    username = forms.EmailField(max_length=254, label="CVE Services user",
                                help_text="The user the API key belongs to (the CVE-API-USER header).")
    api_key = forms.CharField(
        max_length=200, required=False, strip=False, label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}))
    is_enabled = forms.BooleanField(required=False, initial=True, label="Use CVE Services for this organisation")


class CveIdElsewhereForm(forms.Form):
    cve_id = forms.CharField(max_length=30, label="CVE ID assigned by another CNA")
