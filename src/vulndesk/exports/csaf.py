"""CSAF 2.0 documents of an advisory: the ``csaf_security_advisory`` profile and a ``csaf_vex``
document. Pure functions of an ``AdvisoryContent`` (see ``content.py`` for the two editions).

Sources: OASIS CSAF 2.0 (Errata 01), sections 3 (schema elements), 4 (profiles) and 6.1
(mandatory tests). Choices made here:

- **Product tree.** vendor (the organisation) -> product_name (the package, with its
  ecosystem) -> ``product_version_range`` leaves (one per affected interval, named with a
  ``vers`` string, since CSAF 2.0 section 3.1.2.3.3 recommends vers) and ``product_version`` leaves
  (fixed versions, last affected versions, explicitly listed versions; each with a purl where
  the ecosystem has a purl type). Product ids are ``CSAFPID-0001``... in tree order, so the
  advisory and its VEX document name the same products with the same ids.
- **Product status.** Each affected interval is ``known_affected``; a ``fixed`` event's
  version is ``fixed``; a ``last_affected`` event's version is ``last_affected`` (OSV: later
  versions are not affected); listed versions are ``known_affected``. Versions below the
  first ``introduced`` version of a package are ``known_not_affected``, justified (flag
  ``vulnerable_code_not_present``) because the vulnerable code was introduced later.
- **Remediations.** ``vendor_fix`` per fixed version, ``none_available`` for affected
  products with no fixed version, and one ``workaround`` with the advisory's workarounds.
  Every remediation names its products (mandatory test 6.1.29; VEX 6.1.27.10).
- **Scores.** CSAF 2.0 knows ``cvss_v2`` and ``cvss_v3`` only (CVSS v4.0 arrives with CSAF
  2.1). The CVSS 3.1 vector becomes a ``cvss_v3`` score (``cvss`` package, FIRST's formulas);
  the CVSS 4.0 vector and score go into a vulnerability note, not into an unvalidated
  ``cvss_v4`` member that CSAF 2.0 does not define.
- **CWE.** CSAF 2.0 holds one CWE per vulnerability, with its exact name: the first CWE whose
  name we know; the others are listed in a note.
- **Tracking.** Integer versioning: the version is the revision number, the revision history
  has one entry per published revision (``AdvisoryRevision``). A draft (of a first or a next
  revision) has status ``draft`` and a last entry for the revision being prepared.
- **Distribution.** Published: TLP:WHITE. Drafts are embargoed: TLP:AMBER.
"""


from cvss import CVSS3, CVSS4

from vulndesk.advisories.ranges import is_affected
from vulndesk.exports import packages as pk
from vulndesk.exports.content import AdvisoryContent
from vulndesk.exports.cwe import cwe_name
from vulndesk.exports.identity import ENGINE, advisory_url, engine_version, publisher_namespace, timestamp

CSAF_VERSION = "2.0"
SECURITY_ADVISORY, VEX = "csaf_security_advisory", "csaf_vex"
NOT_PRESENT = "vulnerable_code_not_present"
REFERENCE_LABELS = {"ADVISORY": "Advisory", "ARTICLE": "Article", "DETECTION": "Detection",
                    "DISCUSSION": "Discussion", "REPORT": "Report", "FIX": "Fix", "INTRODUCED": "Change that "
                    "introduced the vulnerability", "PACKAGE": "Package", "EVIDENCE": "Evidence", "WEB": "Web page"}
CREDIT_SUMMARIES = {"FINDER": "Found the vulnerability", "REPORTER": "Reported the vulnerability",
                    "ANALYST": "Analysed the vulnerability", "COORDINATOR": "Coordinated the disclosure",
                    "REMEDIATION_DEVELOPER": "Developed the fix", "REMEDIATION_REVIEWER": "Reviewed the fix",
                    "REMEDIATION_VERIFIER": "Verified the fix", "TOOL": "Tool used to find the vulnerability",
                    "SPONSOR": "Sponsored the work", "OTHER": "Contributed"}
SEVERITY_LABELS = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "none": "None"}


def csaf_security_advisory(content: AdvisoryContent) -> dict:
    return _document(content, SECURITY_ADVISORY)


def csaf_vex(content: AdvisoryContent) -> dict:
    return _document(content, VEX)


def csaf_tracking_id(content: AdvisoryContent, category: str) -> str:
    return content.identifier if category == SECURITY_ADVISORY else f"{content.identifier}-VEX"


def csaf_filename(tracking_id: str) -> str:
    """CSAF 2.0 section 5.1: the tracking id in lower case, other characters than [+-a-z0-9]
    replaced by ``_``, with ``.json``."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "+-") else "_" for c in tracking_id.lower()) + ".json"


class _Products:
    """Collects the product tree and hands out ids, one per distinct product."""

    def __init__(self, vendor: str):
        self.vendor = vendor
        self.packages: list[dict] = []  # product_name branches
        self.count = 0

    def package(self, ecosystem: str, name: str) -> dict:
        label = name if ecosystem == "GIT" else f"{name} ({ecosystem})"
        branch = next((b for b in self.packages if b["name"] == label), None)
        if branch is None:
            branch = {"category": "product_name", "name": label, "branches": [], "_ids": {}}
            self.packages.append(branch)
        return branch

    def leaf(self, branch: dict, category: str, name: str, full_name: str, purl: str | None = None) -> str:
        key = (category, name)
        if key in branch["_ids"]:
            return branch["_ids"][key]
        self.count += 1
        product_id = f"CSAFPID-{self.count:04d}"
        product = {"name": full_name, "product_id": product_id}
        if purl:
            product["product_identification_helper"] = {"purl": purl}
        branch["branches"].append({"category": category, "name": name, "product": product})
        branch["_ids"][key] = product_id
        return product_id

    def tree(self) -> dict:
        branches = [{key: value for key, value in b.items() if key != "_ids"} for b in self.packages if b["branches"]]
        return {"branches": [{"category": "vendor", "name": self.vendor, "branches": branches}]}


class _Status:
    def __init__(self):
        self.lists: dict[str, list[str]] = {}
        self.remediations: list[tuple[str, str, list[str]]] = []  # (category, details, product ids)

    def add(self, status: str, product_id: str) -> None:
        ids = self.lists.setdefault(status, [])
        if product_id not in ids:
            ids.append(product_id)

    def remedy(self, category: str, details: str, product_id: str) -> None:
        for existing_category, existing_details, ids in self.remediations:
            if (existing_category, existing_details) == (category, details):
                if product_id not in ids:
                    ids.append(product_id)
                return
        self.remediations.append((category, details, [product_id]))

    def affected(self) -> list[str]:
        return [*self.lists.get("known_affected", []), *self.lists.get("last_affected", [])]


def _products_and_status(content: AdvisoryContent) -> tuple[dict, _Status]:
    products, status = _Products(content.organisation_name), _Status()
    for package in content.packages:
        branch = products.package(package.ecosystem, package.name)
        found = pk.intervals(package.ecosystem, package.ranges)
        # A fixed event's version that another range (or the listed versions) still covers is
        # affected after all (OSV takes the union); it is neither stated fixed nor recommended.
        fixes = [v for v in sorted({i.end for i in found if i.end_kind == "fixed"},
                                   key=lambda v: pk.version_key(package.ecosystem, v))
                 if package.ecosystem == "GIT" or not is_affected(ecosystem=package.ecosystem, version=v,
                                                                   ranges=list(package.ranges),
                                                                   versions=list(package.versions))]

        def first_fix(after: str, package=package, fixes=fixes) -> str | None:
            if package.ecosystem == "GIT":
                return after if after in fixes else None
            return next((v for v in fixes if pk.version_key(package.ecosystem, v) >= pk.version_key(
                package.ecosystem, after)), None)

        def version_leaf(value: str, package=package, branch=branch) -> str:
            return products.leaf(branch, "product_version", value, f"{package.name} {value}",
                                 pk.purl(package.ecosystem, package.name, value))

        for interval in found:
            if package.ecosystem == "GIT":
                range_name = pk.describe("GIT", interval)
            else:
                range_name = pk.vers(package.ecosystem, interval)
            range_id = products.leaf(branch, "product_version_range", range_name, f"{package.name} {range_name}")
            status.add("known_affected", range_id)
            if interval.end_kind == "fixed" and first_fix(interval.end):
                if interval.end in fixes:
                    status.add("fixed", version_leaf(interval.end))
                status.remedy("vendor_fix", _fix_text(package, first_fix(interval.end)), range_id)
            elif interval.end_kind == "last_affected":
                last_id = version_leaf(interval.end)
                status.add("last_affected", last_id)
                details = (f"No fixed version of {package.name} is named for this range; versions after "
                           f"{interval.end} are not affected.")
                status.remedy("none_available", details, range_id)
                status.remedy("none_available", details, last_id)
            else:
                status.remedy("none_available", f"No fixed version of {package.name} is available yet.", range_id)
        for listed in package.versions:
            listed_id = version_leaf(listed)
            status.add("known_affected", listed_id)
            later = None if package.ecosystem == "GIT" else first_fix(listed)
            if later:
                status.remedy("vendor_fix", _fix_text(package, later), listed_id)
            else:
                status.remedy("none_available", f"No fixed version of {package.name} is available yet.", listed_id)
        # OSV: a version in no range and not listed is not affected. Below the lowest introduced
        # (or listed) version that is certain, and the reason is that the code came later.
        starts = [i.start for i in found] + list(package.versions)
        if package.ecosystem != "GIT" and starts and "0" not in starts:
            first = min(starts, key=lambda v: pk.version_key(package.ecosystem, v))
            below = pk.vers_below(package.ecosystem, first)
            status.add("known_not_affected",
                       products.leaf(branch, "product_version_range", below, f"{package.name} {below}"))
    if content.workarounds.strip():
        for product_id in status.affected():
            status.remedy("workaround", content.workarounds.strip(), product_id)
    return products.tree(), status


def _fix_text(package, fixed: str) -> str:
    if package.ecosystem == "GIT":
        return f"Update {package.name} to a revision that contains commit {fixed}."
    return f"Update {package.name} to version {fixed} or later."


def _tracking(content: AdvisoryContent, category: str) -> dict:
    history = [{"date": timestamp(r.date), "number": str(r.number), "summary": r.summary[:1000] or "Revision"}
               for r in content.revisions]
    return {
        "current_release_date": history[-1]["date"],
        "generator": {"engine": {"name": ENGINE, **({"version": engine_version()} if engine_version() else {})}},
        "id": csaf_tracking_id(content, category),
        "initial_release_date": history[0]["date"],
        "revision_history": history,
        "status": "final" if content.is_final else "draft",
        "version": str(content.version),
    }


def _document(content: AdvisoryContent, category: str) -> dict:
    tree, status = _products_and_status(content)
    title = content.title if category == SECURITY_ADVISORY else f"VEX: {content.title}"
    document: dict = {
        "category": category,
        "csaf_version": CSAF_VERSION,
        "distribution": ({"tlp": {"label": "WHITE", "url": "https://www.first.org/tlp/"}} if content.is_final else
                         {"text": "Embargoed draft: do not share outside the coordinating parties.",
                          "tlp": {"label": "AMBER", "url": "https://www.first.org/tlp/"}}),
        "lang": "en",
        "notes": [{"category": "summary", "title": "Summary", "text": content.summary or content.title}],
        "publisher": {"category": "vendor", "name": content.organisation_name,
                      "namespace": publisher_namespace()},
        "references": [{"category": "self", "summary": f"Advisory {content.identifier}",
                        "url": advisory_url(content.identifier)}],
        "title": title,
        "tracking": _tracking(content, category),
    }
    if content.severity:
        document["aggregate_severity"] = {"text": SEVERITY_LABELS.get(content.severity, content.severity)}
    if content.withdrawn_at:
        document["notes"].append({"category": "general", "title": "Withdrawn",
                                  "text": f"This advisory was withdrawn on {timestamp(content.withdrawn_at)}."})
    # Keys in alphabetical order, as CSAF's optional test 6.2.13 recommends.
    return _sorted({"document": document, "product_tree": tree, "vulnerabilities": [_vulnerability(content, status)]})


def _sorted(value):
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _vulnerability(content: AdvisoryContent, status: _Status) -> dict:
    vulnerability: dict = {"title": content.title}
    if content.cve_id:
        vulnerability["cve"] = content.cve_id
    ids = [{"system_name": content.organisation_name, "text": content.identifier}]
    if content.ghsa_id:
        ids.append({"system_name": "GitHub Security Advisory", "text": content.ghsa_id})
    vulnerability["ids"] = ids
    named = [(number, cwe_name(number)) for number in content.cwe_ids]
    known = [(number, name) for number, name in named if name]
    if known:
        vulnerability["cwe"] = {"id": f"CWE-{known[0][0]}", "name": known[0][1]}
    notes = [{"category": "description", "title": "Summary", "text": content.summary or content.title}]
    if content.details.strip():
        notes.append({"category": "details", "title": "Details", "text": content.details})
    others = [f"CWE-{number}" + (f" ({name})" if name else "") for number, name in named
              if not known or number != known[0][0]]
    if others:
        notes.append({"category": "other", "title": "Further weaknesses (CWE)", "text": "; ".join(others)})
    if content.cvss4_vector:
        score = CVSS4(content.cvss4_vector)
        notes.append({"category": "other", "title": "CVSS v4.0", "text": (
            f"{score.clean_vector()} (base score {score.base_score}, {score.severity}). CSAF 2.0 has no score "
            "element for CVSS v4.0, so the vector is given here.")})
    vulnerability["notes"] = notes
    vulnerability["product_status"] = {name: ids for name, ids in status.lists.items() if ids}
    if status.remediations:
        vulnerability["remediations"] = [{"category": category, "details": details, "product_ids": ids}
                                         for category, details, ids in status.remediations]
    not_affected = status.lists.get("known_not_affected", [])
    if not_affected:
        vulnerability["flags"] = [{"label": NOT_PRESENT, "product_ids": not_affected}]
    affected = status.affected()
    if content.cvss3_vector and affected:
        vulnerability["scores"] = [{"cvss_v3": CVSS3(content.cvss3_vector).as_json(minimal=True),
                                    "products": affected}]
    references, seen = [], set()
    for reference in content.references:
        if reference["url"] not in seen:
            seen.add(reference["url"])
            references.append({"category": "external", "summary": REFERENCE_LABELS.get(reference.get("type"), "Web page"),
                               "url": reference["url"]})
    if references:
        vulnerability["references"] = references
    acknowledgments = []
    for kind in CREDIT_SUMMARIES:
        names = [c["name"] for c in content.credits if (c.get("type") or "FINDER") == kind]
        if names:
            acknowledgments.append({"names": names, "summary": CREDIT_SUMMARIES[kind]})
    if acknowledgments:
        vulnerability["acknowledgments"] = acknowledgments
    if content.is_final and content.published_at:
        vulnerability["release_date"] = timestamp(content.published_at)
    return vulnerability
