from django import forms
from django.db import models

from vulndesk.products.models import Policy, Product


def _https_urls(field, **kwargs):
    # Addresses typed without a scheme mean https (Django 6's default, chosen explicitly now).
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        formfield_callback = _https_urls
        fields = ["name", "slug", "description", "repository_url", "security_contacts", "accepts_reports"]
        help_texts = {
            "slug": "Used in the public report form's address: /p/<organisation>/<slug>/report/.",
            "security_contacts": "Comma-separated e-mail addresses that get SLA reminders for unassigned reports.",
        }

    def clean_security_contacts(self):
        value = self.cleaned_data["security_contacts"]
        addresses = [address.strip() for address in value.split(",") if address.strip()]
        validator = forms.EmailField()
        for address in addresses:
            validator.clean(address)
        return ", ".join(addresses)


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = [
            "acknowledgement_hours", "assessment_business_days", "critical_resolution_hours",
            "high_resolution_days", "medium_resolution_days", "low_in_next_release", "low_resolution_days",
            "disclosure_days", "reminder_fraction_percent",
        ]
        labels = {
            "acknowledgement_hours": "Acknowledge within (hours)",
            "assessment_business_days": "Assess within (business days)",
            "critical_resolution_hours": "Resolve Critical within (hours)",
            "high_resolution_days": "Resolve High within (days)",
            "medium_resolution_days": "Resolve Medium within (days)",
            "low_in_next_release": "Resolve Low in the next planned release",
            "low_resolution_days": "Otherwise resolve Low within (days)",
            "disclosure_days": "Disclose at the latest (days after receipt)",
            "reminder_fraction_percent": "Remind at (% of the window)",
        }


class SupportedVersionForm(forms.Form):
    version_range = forms.CharField(max_length=100, label="Version range", help_text="e.g. 2.x, >=2.0,<3.0 or 1.4.2")
    is_supported = forms.BooleanField(required=False, initial=True, label="Supported")
    end_of_support_on = forms.DateField(required=False, label="End of support",
                                        widget=forms.DateInput(attrs={"type": "date"}))


class ReleaseForm(forms.Form):
    version = forms.CharField(max_length=100)
    planned_on = forms.DateField(required=False, label="Planned date", widget=forms.DateInput(attrs={"type": "date"}))


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Name", help_text="Where it is used, e.g. 'GitHub Actions nightly scan'.")
    permission = forms.ChoiceField(label="Permission", choices=[
        ("report:create", "Create reports (CI upload)"), ("report:read", "Read reports")])
    lifetime_days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=366, initial=90)
