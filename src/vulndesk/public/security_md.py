"""SECURITY.md for a product, generated from the rows that drive the SLA clocks. Pure.

The policy a reporter reads is the policy ``reports.deadlines`` enforces: both come from the
product's ``Policy``, ``SupportedVersion`` rows and the organisation's zone and holidays, so the
published promise and the enforced one cannot drift (products/models.py). Names and version
ranges that staff typed are escaped for Markdown, so a product called ``[x](javascript:…)``
stays text in a repository's rendered SECURITY.md.
"""

import re
from dataclasses import dataclass

from vulndesk.organisations.models import Organisation
from vulndesk.products.models import Policy, Product, SupportedVersion

# Characters that start inline Markdown or HTML anywhere in a line (the text never starts a line).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>!|~&])")


def markdown_text(value: str) -> str:
    """Staff text as literal Markdown: one line, every Markdown and HTML character escaped."""
    one_line = "".join(c for c in " ".join(str(value).split()) if c.isprintable())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line)


def markdown_code(value: str) -> str:
    """An inline code span for a table cell: no backtick in ``value`` can close it early, and no
    pipe can end the cell (GFM splits cells before it reads code spans)."""
    text = "".join(c for c in " ".join(str(value).split()) if c.isprintable()).replace("`", "'")
    return f"`{text.replace('|', chr(92) + '|')}`" if text else ""


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass(frozen=True)
class SecurityMdLinks:
    report_form: str  # "" when the product does not take reports through the web form
    product_page: str
    advisories: str
    feed: str


def policy_sentences(policy: Policy) -> dict[str, str]:
    """The policy targets in plain words, shared by the product page and SECURITY.md."""
    if policy.low_in_next_release:
        low = "in the next planned release"
    else:
        low = f"within {plural(policy.low_resolution_days, 'day')}"
    return {
        "acknowledgement": f"within {plural(policy.acknowledgement_hours, 'hour')} of receiving it",
        "assessment": f"within {plural(policy.assessment_business_days, 'business day')} of receiving it",
        "critical": f"within {plural(policy.critical_resolution_hours, 'hour')}",
        "high": f"within {plural(policy.high_resolution_days, 'day')}",
        "medium": f"within {plural(policy.medium_resolution_days, 'day')}",
        "low": low,
        "disclosure": f"within {plural(policy.disclosure_days, 'day')} of receiving the report",
    }


def business_days_note(organisation: Organisation) -> str:
    holidays = (f", excluding public holidays in {organisation.holiday_country}"
                f"{'-' + organisation.holiday_subdivision if organisation.holiday_subdivision else ''}"
                if organisation.holiday_country else "")
    # Zone and country codes are validated identifiers (organisations.models), not free text.
    return f"Business days are Monday to Friday in the {organisation.time_zone} time zone{holidays}."


def security_md(*, organisation: Organisation, product: Product, policy: Policy,
                versions: list[SupportedVersion], contact_email: str, links: SecurityMdLinks) -> str:
    name, org_name = markdown_text(product.name), markdown_text(organisation.name)
    words = policy_sentences(policy)
    out = [f"# Security policy for {name}", "",
           f"This is how {org_name} handles reports of security vulnerabilities in {name}. This file is generated from "
           "the same policy that runs our response deadlines, so what it promises is what we hold ourselves to.",
           f"The current version is always at <{links.product_page}>.", ""]

    out += ["## Supported versions", ""]
    if versions:
        out += ["| Versions | Security fixes | Until |", "| --- | --- | --- |"]
        for row in versions:
            until = row.end_of_support_on.isoformat() if row.end_of_support_on else "-"
            out.append(f"| {markdown_code(row.version_range)} | {'Yes' if row.is_supported else 'No'} | {until} |")
        out += ["", "Please check that you can reproduce the issue on a supported version before reporting it.", ""]
    else:
        out += ["We have not published a supported-versions table yet; report issues in any version.", ""]

    out += ["## Reporting a vulnerability", "",
            "Please do not report security vulnerabilities through public issues, discussions or pull requests.", ""]
    if links.report_form:
        out.append(f"- **Web form (preferred):** <{links.report_form}>. No account is needed; you get a private "
                   "tracking link to follow your report and talk to us.")
    if contact_email:
        out.append(f"- **E-mail:** <{contact_email}>")
    if not links.report_form and not contact_email:
        out.append(f"- {name} does not take reports through vulndesk at the moment; see <{links.product_page}>.")
    out += ["", "Useful details: the affected version, steps to reproduce, the impact you see, and a suggested "
            "fix if you have one.", ""]

    out += ["## What to expect", "",
            f"- We acknowledge your report {words['acknowledgement']}.",
            f"- We assess it (confirm it and rate its severity with CVSS) {words['assessment']}.",
            "- Once we have accepted it, we aim to fix it:",
            f"  - Critical: {words['critical']}",
            f"  - High: {words['high']}",
            f"  - Medium: {words['medium']}",
            f"  - Low: {words['low']}",
            f"- We disclose the vulnerability in a public advisory {words['disclosure']} (coordinated "
            "disclosure), and earlier once a fix has shipped. We extend this deadline only with your agreement.",
            "", business_days_note(organisation), ""]

    out += ["## Advisories and credit", "",
            f"Published advisories: <{links.advisories}> (Atom feed: <{links.feed}>).",
            "We credit reporters in the advisory under the name they choose, or not at all if they prefer.", ""]
    return "\n".join(out)
