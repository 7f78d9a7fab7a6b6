"""Staff forms for advisories. They check shape; advisories.services checks the rules."""

from django import forms
from django.forms import formset_factory

from vulndesk.advisories.models import Ecosystem
from vulndesk.advisories.states import AdvisoryState
from vulndesk.reports.severity import Severity


class AdvisoryCreateForm(forms.Form):
    title = forms.CharField(max_length=200)
    reports = forms.CharField(required=False, max_length=200, label="Reports disclosed",
                              help_text="Report numbers, comma-separated, e.g. 12, 15. Only accepted reports.")

    def clean_reports(self):
        text = self.cleaned_data["reports"]
        numbers = []
        for part in text.replace(";", ",").split(","):
            part = part.strip().rsplit("-", 1)[-1]
            if not part:
                continue
            if not part.isdigit() or len(part) > 9:
                raise forms.ValidationError(f"{part[:20]!r} is not a report number.")
            numbers.append(int(part))
        return numbers


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class AdvisoryForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(max_length=500, required=False, help_text="One sentence; shown in lists and feeds.")
    details = forms.CharField(required=False, max_length=100_000, widget=forms.Textarea(attrs={"rows": 12}),
                              help_text="Markdown. Raw HTML, images and scripts are removed when rendered.")
    workarounds = forms.CharField(required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 3}))
    severity = forms.ChoiceField(required=False, choices=[("", "—")] + Severity.choices)
    cvss3_vector = forms.CharField(required=False, max_length=300, label="CVSS 3.1 vector")
    cvss4_vector = forms.CharField(required=False, max_length=300, label="CVSS 4.0 vector")
    cwe_ids = forms.CharField(required=False, max_length=200, label="CWE ids", help_text="e.g. 79, 89")
    credits = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="One per line: name | TYPE (FINDER, REPORTER, ANALYST, COORDINATOR, "
                                        "REMEDIATION_DEVELOPER, …). Credit reporters only with their consent.")
    references = forms.CharField(required=False, max_length=50_000, widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text="One per line: [TYPE] https://… (types: ADVISORY, ARTICLE, FIX, "
                                           "PACKAGE, REPORT, WEB, …).")
    cve_id = forms.RegexField(required=False, regex=r"^CVE-\d{4}-\d{4,19}$", max_length=20, label="CVE ID")
    ghsa_id = forms.RegexField(required=False, regex=r"^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$", max_length=30,
                               label="GHSA ID")
    embargo_until = forms.DateTimeField(required=False, label="Embargo until",
                                        # Minutes are the finest an embargo is agreed in; the default
                                        # format would show seconds the picker cannot edit.
                                        widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                   format="%Y-%m-%dT%H:%M"),
                                        help_text="In the organisation's time zone. Scheduled advisories publish "
                                                  "themselves then, never before.")

    def clean_cwe_ids(self):
        text = self.cleaned_data["cwe_ids"]
        ids = []
        for part in text.replace(";", ",").split(","):
            part = part.strip().upper().removeprefix("CWE-")
            if not part:
                continue
            if not part.isdigit() or not 1 <= int(part) <= 99999:
                raise forms.ValidationError(f"{part[:20]!r} is not a CWE id.")
            ids.append(int(part))
        return ids

    def clean_credits(self):
        credits = []
        for line in _lines(self.cleaned_data["credits"]):
            name, _, kind = line.partition("|")
            credits.append({"name": name.strip(), "type": (kind.strip() or "FINDER").upper()})
        return credits

    def clean_references(self):
        references = []
        for line in _lines(self.cleaned_data["references"]):
            parts = line.split(None, 1)
            kind, url = (parts[0], parts[1]) if len(parts) == 2 else ("WEB", parts[0])
            references.append({"type": kind.strip("[]").upper(), "url": url.strip()})
        return references

    @staticmethod
    def initial_for(advisory) -> dict:
        return {
            "title": advisory.title, "summary": advisory.summary, "details": advisory.details,
            "workarounds": advisory.workarounds, "severity": advisory.severity,
            "cvss3_vector": advisory.cvss3_vector, "cvss4_vector": advisory.cvss4_vector,
            "cwe_ids": ", ".join(str(i) for i in advisory.cwe_ids),
            "credits": "\n".join(f"{c['name']} | {c.get('type', 'FINDER')}" for c in advisory.credits),
            "references": "\n".join(f"{r['type']} {r['url']}" for r in advisory.references),
            "cve_id": advisory.cve_id, "ghsa_id": advisory.ghsa_id, "embargo_until": advisory.embargo_until,
        }


class AffectedRowForm(forms.Form):
    """One range of one package. Rows with the same ecosystem and package join one entry."""

    ecosystem = forms.ChoiceField(choices=Ecosystem.choices)
    package_name = forms.CharField(max_length=214, label="Package", required=False)
    introduced = forms.CharField(max_length=100, initial="0", help_text="0 = from the first version")
    fixed = forms.CharField(max_length=100, required=False)
    last_affected = forms.CharField(max_length=100, required=False, label="Last affected")
    repo = forms.URLField(required=False, max_length=500, label="Repository (Git)", assume_scheme="https")

    def clean(self):
        from vulndesk.advisories.ranges import validate_affected
        from vulndesk.core.errors import DomainError

        data = super().clean()
        if self.errors:
            return data
        if not (data.get("package_name") or "").strip():
            # A row without a package is an unused row (the empty one at the end), unless the
            # person typed versions into it: then say what is missing instead of dropping them.
            if data.get("fixed") or data.get("last_affected") or data.get("repo"):
                raise forms.ValidationError("Give the package name for this row.")
            return data
        if data.get("fixed") and data.get("last_affected"):
            raise forms.ValidationError("Give a fixed version or a last affected one, not both.")
        try:
            validate_affected(ecosystem=data["ecosystem"], package_name=data["package_name"],
                              ranges=[self.as_range()], versions=[])
        except DomainError as error:
            raise forms.ValidationError(error.message) from None
        return data

    def as_range(self) -> dict:
        data = self.cleaned_data
        events = [{"introduced": data["introduced"].strip() or "0"}]
        if data.get("fixed"):
            events.append({"fixed": data["fixed"].strip()})
        if data.get("last_affected"):
            events.append({"last_affected": data["last_affected"].strip()})
        kind = "GIT" if data["ecosystem"] == "GIT" else ("SEMVER" if data["ecosystem"] == "SemVer" else "ECOSYSTEM")
        return {"type": kind, **({"repo": data.get("repo")} if kind == "GIT" else {}), "events": events}


AffectedFormSet = formset_factory(AffectedRowForm, extra=1, can_delete=True, max_num=100, validate_max=True)


def affected_initial(advisory) -> list[dict]:
    rows = []
    for package in advisory.affected.all():
        for item in package.ranges:
            events = {k: v for event in item["events"] for k, v in event.items()}
            rows.append({"ecosystem": package.ecosystem, "package_name": package.package_name,
                         "introduced": events.get("introduced", "0"), "fixed": events.get("fixed", ""),
                         "last_affected": events.get("last_affected", ""), "repo": item.get("repo", "")})
    return rows


class AdvisoryTransitionForm(forms.Form):
    to = forms.ChoiceField(choices=AdvisoryState.choices)
    override_reason = forms.CharField(required=False, max_length=500, label="Reason to publish before the embargo")
    changelog = forms.CharField(required=False, max_length=1000, label="What changed in this revision")


class WithdrawForm(forms.Form):
    reason = forms.CharField(max_length=900, label="Why is it withdrawn? (published)")


class MarkdownPreviewForm(forms.Form):
    details = forms.CharField(required=False, max_length=100_000)
