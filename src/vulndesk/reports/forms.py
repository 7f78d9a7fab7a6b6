"""Forms check the shape of staff input; rules live in reports.services."""

from django import forms

from vulndesk.reports.severity import Severity
from vulndesk.reports.states import ReportState


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=ReportState.choices)
    cvss_vector = forms.CharField(required=False, max_length=300, label="CVSS vector",
                                  help_text="CVSS:3.1/… or CVSS:4.0/…; sets the severity.")
    severity = forms.ChoiceField(required=False, choices=[("", "From the CVSS score")] + Severity.choices)
    reason = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    duplicate_of = forms.IntegerField(required=False, min_value=1, label="Duplicate of report number")


class SeverityForm(forms.Form):
    cvss_vector = forms.CharField(required=False, max_length=300, label="CVSS vector")
    severity = forms.ChoiceField(required=False, choices=[("", "From the CVSS score")] + Severity.choices,
                                 label="Severity override")
    reason = forms.CharField(required=False, max_length=500, label="Reason for an override")
    cwe_id = forms.IntegerField(required=False, min_value=1, max_value=99999, label="CWE id")


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=[])

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "Unassigned")] + [
            (member.user_id, member.user.display_name) for member in members
        ]


class MessageForm(forms.Form):
    body = forms.CharField(max_length=50_000, widget=forms.Textarea(attrs={"rows": 4}), label="Message")
    is_internal = forms.BooleanField(required=False, label="Internal note (never shown to the reporter)")


class CvssPreviewForm(forms.Form):
    cvss_vector = forms.CharField(required=False, max_length=300)


class DisclosureExtendForm(forms.Form):
    due_on = forms.DateField(label="New deadline")
    reason = forms.CharField(max_length=500)
    reporter_agreed = forms.BooleanField(required=False)
