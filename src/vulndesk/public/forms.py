"""Shape checks for the public advisory index's query string (search, filters, cursor)."""

from django import forms

from vulndesk.reports.severity import Severity

MAX_QUERY_CHARS = 100


class AdvisoryFilterForm(forms.Form):
    q = forms.CharField(label="Search titles", required=False, max_length=MAX_QUERY_CHARS, strip=True,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. SQL injection"}))
    severity = forms.ChoiceField(label="Severity", required=False,
                                 choices=[("", "Any severity"), *Severity.choices])
    product = forms.ChoiceField(label="Product", required=False)

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        if products:
            self.fields["product"].choices = [("", "All products"), *((p.slug, p.name) for p in products)]
        else:
            del self.fields["product"]

    def value(self, name: str) -> str:
        """The cleaned value of ``name``, or "" when it is absent or malformed: a bad filter in
        a hand-edited URL widens the list instead of failing the page."""
        if not self.is_bound or name not in self.fields:
            return ""
        self.is_valid()
        return self.cleaned_data.get(name) or ""
