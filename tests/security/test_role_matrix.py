"""The role x endpoint matrix (ASVS V8.1.1, V8.2.1, V8.3.1): one table row per staff URL and
method, the roles that may use it, and what an allowed role gets. Every row runs for every role,
for an anonymous visitor and for a member who skipped the second factor.

The policy lives in organisations/models.py (TRIAGE_ROLES, SETTINGS_ROLES, READ_ROLES,
SUBMIT_ROLES) and organisations/access.py:

* HTML views are ``@member_view(roles)``: anonymous -> login redirect, no verified second
  factor -> two-factor page, a member without the role -> 403. CI uploaders get 403 on every HTML
  page (they use the API only).
* API views check the role first (403), then look the report up (404), so a developer's
  403/404 on a report not assigned to them depends on the role check coming first.
* A developer sees only the reports assigned to them: any other report number is a 404.

Every row sends valid data, so an allowed role always gets the row's 2xx/3xx (``ok``) and its
POST changes something; no row relies on a validation 4xx.

A completeness test walks the URL resolver: a new staff URL (or a new method on one) without a
row here fails.
"""

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import pytest
from django.contrib.auth.views import LogoutView
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.views import APIView

from tests.factories.core import (
    add_versions,
    make_member,
    make_organisation,
    make_product,
    make_report,
    totp_device_for,
    verified_login,
)
from vulndesk.accounts.api_tokens import api_token_create
from vulndesk.accounts.models import ApiToken
from vulndesk.attachments.models import Attachment
from vulndesk.attachments.services import attachment_add
from vulndesk.audit.models import AuditEntry
from vulndesk.core.public import PUBLIC_VIEWS
from vulndesk.mailintake.models import ImapMailbox
from vulndesk.organisations.models import (
    READ_ROLES,
    SETTINGS_ROLES,
    SUBMIT_ROLES,
    TRIAGE_ROLES,
    Membership,
    Role,
)
from vulndesk.organisations.services import membership_products_set
from vulndesk.products.forms import PolicyForm
from vulndesk.products.models import Product, Release, SupportedVersion
from vulndesk.products.selectors import releases_for_product, supported_versions_for_product
from vulndesk.products.services import release_plan
from vulndesk.reports.models import Message, Report, TimelineEvent
from vulndesk.reports.services import report_assign

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
HIGH = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N"
ROLES = [role.value for role in Role]
EVERYONE_BUT_CI = frozenset(READ_ROLES)  # member_view() default; ci_uploader never reaches HTML
WRITERS = frozenset(READ_ROLES - {Role.VIEWER})  # read roles that may also write messages/attachments
OWNER_ONLY = frozenset({Role.OWNER})


# --- the world every row acts on ------------------------------------------------------------

@dataclass
class World:
    organisation: object
    product: Product
    members: dict[str, Membership]  # one per role
    target: Membership  # a member the owner may change or remove
    report: Report  # assigned to the developer
    other_report: Report  # assigned to nobody: the developer must not see it
    attachment: Attachment  # on ``report``
    api_token: ApiToken
    version_row: SupportedVersion
    release: Release
    tracking_token: str
    other_tracking_token: str
    secrets: dict[str, str] = field(default_factory=dict)
    advisory: object = None  # a draft ready for review, embargoed 30 days ahead
    published: object = None  # a published advisory
    accepted_report: Report | None = None  # accepted: it has a disclosure deadline
    contact: object = None  # a downstream contact
    prenotification: object = None  # sent to ``contact`` about ``advisory``
    webhook: object = None
    failed_delivery: object = None
    mail: dict = field(default_factory=dict)  # ids: intake address, a held and a quarantined message
    pgp_key: object = None  # the organisation's active OpenPGP key


def build_world(label: str = "ALPHA", *, filler_reports: int = 0) -> World:
    """An organisation with one member per role, a product with versions, a release and a CI
    token, two reports (one assigned to the developer) and an attachment. ``label`` goes into
    every secret string, so a test can look for it in responses. ``filler_reports`` come first,
    so the two reports get numbers another organisation's world does not have."""
    organisation = make_organisation(name=f"{label} Corp")
    product = make_product(organisation, name=f"{label} Product")
    for n in range(filler_reports):
        make_report(product, title=f"{label}-SECRET-FILLER-{n}")
    add_versions(product)
    release_plan(product=product, version="2.5.0", planned_on=date(2030, 1, 15))
    members = {role: make_member(organisation, role=role, email=f"{label.lower()}-{role}@example.org")
               for role in ROLES}
    target = make_member(organisation, role=Role.TRIAGER, email=f"{label.lower()}-target@example.org")
    secrets = {
        "title": f"{label}-SECRET-TITLE heap overflow in parser",
        "description": f"{label}-SECRET-DESCRIPTION overflow at offset 0x41",
        "reporter_name": f"{label}-SECRET-REPORTER Mallory",
        "reporter_email": f"{label.lower()}-reporter@reporter.example",
        "attachment": f"{label}-SECRET-ATTACHMENT-BYTES",
        "other_title": f"{label}-SECRET-OTHER-TITLE auth bypass",
    }
    created = make_report(product, title=secrets["title"], description=secrets["description"],
                          reporter_name=secrets["reporter_name"], reporter_email=secrets["reporter_email"])
    report = report_assign(report=created.report, actor=members[Role.OWNER], assignee=members[Role.DEVELOPER].user)
    other = make_report(product, title=secrets["other_title"], description=secrets["description"])
    attachment = attachment_add(report=report, actor=members[Role.TRIAGER],
                                upload=SimpleUploadedFile("poc.txt", (secrets["attachment"] + "\n").encode()))
    token, raw_token = api_token_create(organisation=organisation, product=product, permission="report:create",
                                        name=f"{label} CI", lifetime_days=30, created_by=members[Role.OWNER].user)
    secrets["api_token"] = raw_token
    extras = _disclosure_world(organisation, product, members)
    extras["mail"] = mail_objects(label, product, members[Role.OWNER], report)
    extras["pgp_key"] = pgp_key_for(organisation, members[Role.OWNER])
    return World(
        organisation=organisation, product=product, members=members, target=target, report=report,
        other_report=other.report, attachment=attachment, api_token=token,
        version_row=supported_versions_for_product(product=product)[0],
        release=releases_for_product(product=product)[0],
        tracking_token=created.tracking_token, other_tracking_token=other.tracking_token, secrets=secrets,
        **extras,
    )


def mail_objects(label: str, product, owner, report) -> dict[str, int]:
    """An intake address, a message held on ``report`` (a stranger wrote to its reply address)
    and two quarantined ones (unreadable MIME; OpenPGP it could not open), through the mail
    intake's own store and processing."""
    from vulndesk.mailintake.routing import Route
    from vulndesk.mailintake.services import (
        Delivery,
        inbound_process,
        inbound_store_batch,
        intake_address_add,
    )

    address = intake_address_add(actor=owner, local_part="security", domain=f"{label.lower()}.example",
                                 product=product)
    route = Route(organisation_id=product.organisation_id, address_id=address.pk, product_id=product.pk)
    held_raw = (b"From: stranger@elsewhere.example\r\nSubject: Re: your report\r\nMessage-ID: <h@e.example>\r\n"
                b"\r\nI was not asked.\r\n")
    broken_raw = (b"From: a@b.example\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
                  b"no parts\r\n")
    # PGP/MIME whose armor holds no OpenPGP message: quarantined by OpenPGP, so it may be tried again.
    locked_raw = (b"From: a@b.example\r\nSubject: ...\r\nMessage-ID: <l@b.example>\r\nMIME-Version: 1.0\r\n"
                  b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="E"\r\n\r\n'
                  b"--E\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
                  b"--E\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\n"
                  b"AAAA\r\n-----END PGP MESSAGE-----\r\n\r\n--E--\r\n")
    [[held], [broken], [locked]] = inbound_store_batch([
        Delivery(raw=held_raw, envelope_from="stranger@elsewhere.example", recipients=["reply"],
                 routes=[Route(**{**route.__dict__, "reply_report_id": report.pk})]),
        Delivery(raw=broken_raw, envelope_from="a@b.example", recipients=["security"], routes=[route]),
        Delivery(raw=locked_raw, envelope_from="a@b.example", recipients=["security"], routes=[route]),
    ])
    for message_id in (held, broken, locked):  # inside the test's transaction, on-commit tasks do not run
        inbound_process(message_id=message_id)
    mailboxes = imap_mailboxes(label, owner, address)
    return {"address": address.pk, "held": held, "quarantined": broken, "pgp_quarantined": locked, **mailboxes}


def imap_mailboxes(label: str, owner, address) -> dict[str, int]:
    """An IMAP mailbox polled for the organisation, and a disabled one. Their server is a closed
    loopback port: a poll or a connection check fails at once, and is recorded."""
    from vulndesk.mailintake.services import MailboxSettings, imap_mailbox_add, imap_mailbox_set_enabled

    def add(name: str):
        return imap_mailbox_add(actor=owner, values=MailboxSettings(
            name=f"{label} {name}", host="127.0.0.1", port=1, security="none", username=f"{label.lower()}-imap",
            password=f"{label}-SECRET-IMAP-PASSWORD", address=address))

    disabled = imap_mailbox_set_enabled(actor=owner, mailbox=add("old mailbox"), enabled=False)
    return {"mailbox": add("mailbox").pk, "disabled_mailbox": disabled.pk}


def _mailbox(w: World) -> dict:
    return {"mailbox_id": w.mail["mailbox"]}


def _mailbox_form(w: World) -> dict:
    return {"name": "Matrix mailbox", "address": str(w.mail["address"]), "host": "127.0.0.1", "security": "none",
            "port": "1", "username": "matrix", "password": "matrix-password", "folder": "INBOX",
            "poll_interval_minutes": "5"}


@functools.cache
def _matrix_key_pair(purpose: str):
    """An OpenPGP key pair per test process and purpose: gpg runs once, each world stores a row."""
    from vulndesk.pgp.keys import key_pair_generate

    return key_pair_generate(name=f"Matrix {purpose} team", email=f"{purpose}@matrix.example", years=1)


def pgp_key_for(organisation, owner):
    """The organisation's active OpenPGP key, stored through the service (no gpg call)."""
    from vulndesk.pgp.services import organisation_key_add

    return organisation_key_add(organisation=organisation, key_pair=_matrix_key_pair("world"), actor=owner,
                                source="generated")


def _pgp_import(w: World) -> dict:
    pair = _matrix_key_pair("import")  # another key than the world's active one
    return {"secret_key": pair.armored_secret, "passphrase": pair.passphrase}


def _held_mail(w: World) -> dict:
    return {"message_id": w.mail["held"]}


def _disclosure_world(organisation, product, members) -> dict:
    from datetime import timedelta

    from vulndesk.advisories.services import (
        advisory_create,
        advisory_transition,
        advisory_update,
        affected_packages_set,
    )
    from vulndesk.core import clock
    from vulndesk.prenotify.services import contact_add, prenotification_send
    from vulndesk.reports.services import report_transition

    owner = members[Role.OWNER]
    accepted = make_report(product, title="ALPHA-SECRET-ACCEPTED").report
    report_transition(report=accepted, actor=owner, to="accepted", cvss_vector=CRITICAL)
    packages = [{"ecosystem": "PyPI", "package_name": "alpha-lib", "versions": [],
                 "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}]}]

    def ready(title, **fields):
        advisory = advisory_create(organisation=organisation, actor=owner, title=title)
        affected_packages_set(advisory=advisory, actor=owner, packages=packages)
        return advisory_update(advisory=advisory, actor=owner, summary="s", severity="high", **fields)

    draft = ready("ALPHA draft", embargo_until=clock.now() + timedelta(days=30))
    published = ready("ALPHA published")
    advisory_transition(advisory=published, actor=owner, to="in_review")
    published = advisory_transition(advisory=published, actor=owner, to="published")
    contact = contact_add(organisation=organisation, actor=owner, name="Vendor PSIRT", email="psirt@vendor.example",
                          kind="vendor")
    sent = prenotification_send(advisory=draft, actor=owner, contacts=[contact]).sent[0]
    from vulndesk.notifications.models import Delivery
    from vulndesk.notifications.services.webhooks import webhook_create

    # An address literal, so no DNS lookup happens while the world is built.
    webhook = webhook_create(organisation=organisation, actor=owner, url="https://93.184.215.14/hook",
                             events=["advisory.published"]).webhook
    now = clock.now()
    failed = Delivery.objects.create(organisation=organisation, channel="webhook", webhook=webhook,
                                     event="advisory.published", status="failed", attempts=10, next_attempt_at=now,
                                     created_at=now)
    return {"advisory": draft, "published": published, "accepted_report": accepted, "contact": contact,
            "prenotification": sent, "webhook": webhook, "failed_delivery": failed}


def fingerprint(organisation) -> dict:
    """Everything a staff request could change in an organisation, by id and state (never by
    report text: those columns become encrypted)."""
    reports = Report.objects.filter(organisation=organisation).order_by("pk")
    products = Product.objects.filter(organisation=organisation).order_by("pk")
    return {
        "reports": list(reports.values_list("pk", "number", "state", "severity", "assignee_id", "cvss3_vector",
                                            "cwe_id", "updated_at")),
        "timeline": TimelineEvent.objects.filter(report__organisation=organisation).count(),
        "messages": Message.objects.filter(report__organisation=organisation).count(),
        "attachments": list(Attachment.objects.filter(organisation=organisation).values_list("pk", flat=True)),
        "audit": AuditEntry.objects.filter(organisation_id=organisation.pk).count(),
        "products": list(products.values_list("pk", "name", "slug", "description", "accepts_reports")),
        "policies": [model_to_dict(p.policy) for p in products],
        "versions": list(SupportedVersion.objects.filter(product__organisation=organisation)
                         .values_list("pk", "version_range", "is_supported")),
        "releases": list(Release.objects.filter(product__organisation=organisation)
                         .values_list("pk", "version", "shipped_on")),
        "tokens": list(ApiToken.objects.filter(organisation=organisation).values_list("pk", "revoked_at")),
        "imap_mailboxes": list(ImapMailbox.objects.filter(organisation=organisation).order_by("pk").values_list(
            "pk", "name", "host", "port", "is_enabled", "sealed_credentials", "last_poll_at")),
        "memberships": list(Membership.objects.filter(organisation=organisation).order_by("pk")
                            .values_list("pk", "user_id", "role", "is_product_scoped")),
    }


# --- the matrix --------------------------------------------------------------------------------

def _none(w: World) -> dict:
    return {}


@dataclass(frozen=True)
class Row:
    name: str  # URL name
    method: str
    kwargs: Callable[[World], dict]  # URL arguments besides the organisation
    data: Callable[[World], dict] = _none  # the request body (form fields or JSON), always valid
    allowed: frozenset[str] = EVERYONE_BUT_CI
    ok: int = 200  # what an allowed role gets with this (valid) data
    api: bool = False
    query: str = ""
    changes: bool = True  # a POST that only answers (a preview, a connection check) changes nothing

    @property
    def id(self) -> str:
        return f"{self.method}-{self.name}"

    def url(self, world: World, organisation_slug: str | None = None, **overrides) -> str:
        kwargs = {"organisation": organisation_slug or world.organisation.slug} | self.kwargs(world) | overrides
        return reverse(self.name, kwargs=kwargs) + self.query


def _report(w: World) -> dict:
    return {"number": w.report.number}


def _attachment(w: World) -> dict:
    return {"number": w.report.number, "attachment_id": w.attachment.pk}


def _product(w: World) -> dict:
    return {"product": w.product.slug}


def _policy(w: World) -> dict:
    """The policy form as the page renders it, with one value changed."""
    form = PolicyForm(instance=w.product.policy)
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value not in (None, False):
            data[name] = str(value)
    data["acknowledgement_hours"] = "24"
    return data


def _adv(w: World) -> dict:
    return {"identifier": w.advisory.identifier}


def _affected(w: World) -> dict:
    return {"affected-TOTAL_FORMS": "1", "affected-INITIAL_FORMS": "0", "affected-MIN_NUM_FORMS": "0",
            "affected-MAX_NUM_FORMS": "100", "affected-0-ecosystem": "npm", "affected-0-package_name": "alpha-js",
            "affected-0-introduced": "0", "affected-0-fixed": "2.0.0"}


def _webhook(w: World) -> dict:
    return {"webhook_id": w.webhook.pk}


def _delivery(w: World) -> dict:
    return {"delivery_id": w.failed_delivery.pk}


def _webhook_form(w: World) -> dict:
    return {"url": "https://93.184.215.14/hook", "events": ["advisory.published"]}


def _upload(w: World) -> dict:
    return {"attachments": SimpleUploadedFile("trace.txt", b"stack trace\n")}


ROWS = [
    # reports (HTML)
    Row("reports:queue", "GET", _none),
    Row("reports:cvss_preview", "GET", _none, query="?cvss_vector=" + CRITICAL),
    Row("reports:detail", "GET", _report),
    Row("reports:transition", "POST", _report, lambda w: {"to": "accepted", "cvss_vector": CRITICAL},
        TRIAGE_ROLES, 302),
    Row("reports:severity", "POST", _report, lambda w: {"cvss_vector": HIGH, "cwe_id": "89"}, TRIAGE_ROLES, 302),
    Row("reports:assign", "POST", _report, lambda w: {"assignee": str(w.target.user_id)}, TRIAGE_ROLES, 302),
    Row("reports:message", "POST", _report, lambda w: {"body": "Can you confirm on 2.4.2?"}, WRITERS, 302),
    # products (HTML)
    Row("products:list", "GET", _none),
    Row("products:create", "POST", _none, lambda w: {"name": "New Product", "slug": "new-product"},
        SETTINGS_ROLES, 302),
    Row("products:detail", "GET", _product),
    Row("products:update", "POST", _product, lambda w: {"name": "Renamed", "slug": w.product.slug,
                                                        "description": "changed"}, SETTINGS_ROLES, 302),
    Row("products:policy", "POST", _product, _policy, SETTINGS_ROLES, 302),
    Row("products:version_add", "POST", _product, lambda w: {"version_range": "3.x", "is_supported": "on"},
        SETTINGS_ROLES, 302),
    Row("products:version_remove", "POST", lambda w: {"product": w.product.slug, "row_id": w.version_row.pk},
        allowed=SETTINGS_ROLES, ok=302),
    Row("products:release_plan", "POST", _product, lambda w: {"version": "3.0.0", "planned_on": "2031-03-01"},
        SETTINGS_ROLES, 302),
    Row("products:release_ship", "POST", lambda w: {"product": w.product.slug, "release_id": w.release.pk},
        allowed=SETTINGS_ROLES, ok=302),
    # The new token is shown once, on this page: 200, not a redirect.
    Row("products:api_token_create", "POST", _product,
        lambda w: {"name": "Nightly scan", "permission": "report:create", "lifetime_days": "30"}, SETTINGS_ROLES, 200),
    Row("products:api_token_revoke", "POST", lambda w: {"product": w.product.slug, "token_id": w.api_token.pk},
        allowed=SETTINGS_ROLES, ok=302),
    # organisations (HTML)
    Row("organisations:members", "GET", _none, allowed=SETTINGS_ROLES),
    # The same answer whether the address had an account or not: the invitation goes by mail.
    Row("organisations:member_add", "POST", _none,
        lambda w: {"email": "newcomer@example.org", "name": "Newcomer", "role": "viewer"}, OWNER_ONLY, 302),
    Row("organisations:member_role", "POST", lambda w: {"membership_id": w.target.pk},
        lambda w: {f"m{w.target.pk}-role": "viewer"}, OWNER_ONLY, 302),
    Row("organisations:member_products", "POST", lambda w: {"membership_id": w.target.pk},
        lambda w: {f"p{w.target.pk}-products": [str(w.product.pk)]}, OWNER_ONLY, 302),
    Row("organisations:member_remove", "POST", lambda w: {"membership_id": w.target.pk},
        allowed=OWNER_ONLY, ok=302),
    # attachments (HTML)
    Row("attachments:upload", "POST", _report, _upload, WRITERS, 302),
    Row("attachments:download", "GET", _attachment, allowed=WRITERS),  # viewers read reports, not files
    # reports API
    Row("api_reports", "GET", _none, allowed=READ_ROLES, api=True),
    Row("api_reports", "POST", _none, lambda w: {"product": w.product.slug, "title": "Open redirect in login",
                                                 "description": "next= accepts any host."},
        SUBMIT_ROLES, 201, api=True),
    Row("api_reports_batch", "POST", _none, lambda w: {"product": w.product.slug, "reports": [
        {"title": "Open redirect in login", "description": "next= accepts any host."},
        {"title": "Reflected XSS in search", "description": "q is echoed unescaped."}]},
        SUBMIT_ROLES, 201, api=True),
    Row("api_report", "GET", _report, allowed=READ_ROLES, api=True),
    Row("api_report_transition", "POST", _report, lambda w: {"to": "accepted", "cvss_vector": CRITICAL},
        TRIAGE_ROLES, api=True),
    Row("api_report_severity", "POST", _report, lambda w: {"cvss_vector": HIGH}, TRIAGE_ROLES, api=True),
    Row("api_report_assignee", "POST", _report, lambda w: {"assignee": w.target.user_id}, TRIAGE_ROLES, api=True),
    Row("api_report_timeline", "GET", _report, allowed=READ_ROLES, api=True),
    # advisories (staff)
    Row("advisories:list", "GET", _none),
    Row("advisories:create", "POST", _none, lambda w: {"title": "ALPHA new advisory"}, TRIAGE_ROLES, 302),
    Row("advisories:preview", "POST", _none, lambda w: {"details": "**x**"}, TRIAGE_ROLES, changes=False),
    Row("advisories:detail", "GET", _adv),
    Row("advisories:update", "POST", _adv, lambda w: {"title": "ALPHA renamed", "summary": "s", "severity": "high"},
        TRIAGE_ROLES, 302),
    Row("advisories:affected", "POST", _adv, _affected, TRIAGE_ROLES, 302),
    Row("advisories:transition", "POST", _adv, lambda w: {"to": "in_review"}, TRIAGE_ROLES, 302),
    Row("advisories:withdraw", "POST", lambda w: {"identifier": w.published.identifier},
        lambda w: {"reason": "not a vulnerability"}, TRIAGE_ROLES, 302),
    Row("reports:disclosure", "POST", lambda w: {"number": w.accepted_report.number},
        lambda w: {"due_on": "2027-06-30", "reason": "vendor patch", "reporter_agreed": "on"}, TRIAGE_ROLES, 302),
    # exports
    Row("exports:panel", "GET", _adv),
    Row("exports:download", "GET", lambda w: {"identifier": w.published.identifier, "format": "osv"}),
    # CVE (no CNA account in this world: nothing goes to the network)
    Row("cve:settings", "GET", _none, allowed=SETTINGS_ROLES),
    Row("cve:settings_save", "POST", _none, lambda w: {
        "endpoint_url": "https://cveawg-test.mitre.org/api/", "short_name": "acme", "username": "psirt@acme.example",
        "api_key": "test-key-12345678", "is_enabled": "on"}, SETTINGS_ROLES, 302),
    Row("cve:settings_check", "POST", _none, allowed=SETTINGS_ROLES, ok=302, changes=False),
    Row("cve:panel", "GET", _adv),
    Row("cve:reserve", "POST", _adv, allowed=TRIAGE_ROLES, ok=302, changes=False),
    Row("cve:publish", "POST", _adv, allowed=TRIAGE_ROLES, ok=302, changes=False),
    Row("cve:update", "POST", _adv, allowed=TRIAGE_ROLES, ok=302, changes=False),
    # The world's advisory is not withdrawn: the reject is refused with a message (302 back).
    Row("cve:reject", "POST", _adv, allowed=TRIAGE_ROLES, ok=302, changes=False),
    Row("cve:record_elsewhere", "POST", _adv, lambda w: {"cve_id": "CVE-2025-4242"}, TRIAGE_ROLES, 302),
    # pre-notification
    Row("prenotify:contacts", "GET", _none, allowed=SETTINGS_ROLES),
    Row("prenotify:contact_add", "POST", _none,
        lambda w: {"name": "New CERT", "email": "cert@new-cert.example", "kind": "cert"}, SETTINGS_ROLES, 302),
    Row("prenotify:contact_edit", "GET", lambda w: {"contact_id": w.contact.pk}, allowed=SETTINGS_ROLES),
    Row("prenotify:contact_edit", "POST", lambda w: {"contact_id": w.contact.pk},
        lambda w: {"name": "Renamed vendor", "email": w.contact.email, "kind": "vendor"}, SETTINGS_ROLES, 302),
    Row("prenotify:contact_remove", "POST", lambda w: {"contact_id": w.contact.pk}, allowed=SETTINGS_ROLES, ok=302),
    Row("prenotify:advisory", "GET", _adv, allowed=TRIAGE_ROLES),
    Row("prenotify:send", "POST", _adv, lambda w: {"contacts": [str(w.contact.pk)]}, TRIAGE_ROLES, 302),
    Row("prenotify:revoke", "POST", lambda w: {"identifier": w.advisory.identifier,
                                               "prenotification_id": w.prenotification.pk},
        allowed=TRIAGE_ROLES, ok=302),
    # notifications
    Row("notifications:overview", "GET", _none, allowed=TRIAGE_ROLES),
    Row("notifications:webhook_create", "POST", _none, _webhook_form, SETTINGS_ROLES, 200),
    Row("notifications:webhook", "GET", _webhook, allowed=SETTINGS_ROLES),
    Row("notifications:webhook_update", "POST", _webhook, _webhook_form, SETTINGS_ROLES, 302),
    Row("notifications:webhook_rotate", "POST", _webhook, allowed=SETTINGS_ROLES),
    Row("notifications:webhook_delete", "POST", _webhook, allowed=SETTINGS_ROLES, ok=302),
    Row("notifications:deliveries", "GET", _none, allowed=TRIAGE_ROLES),
    Row("notifications:delivery", "GET", _delivery, allowed=TRIAGE_ROLES),
    Row("notifications:delivery_retry", "POST", _delivery, allowed=SETTINGS_ROLES, ok=302),
    # mail intake (HTML); the original carries the reporter's identity: coordinators only
    Row("mailintake:inbox", "GET", _none),
    Row("mailintake:message", "GET", _held_mail),
    Row("mailintake:original", "GET", _held_mail, allowed=TRIAGE_ROLES),
    Row("mailintake:approve", "POST", _held_mail, allowed=TRIAGE_ROLES, ok=302),
    Row("mailintake:reject", "POST", _held_mail, allowed=TRIAGE_ROLES, ok=302),
    Row("mailintake:convert", "POST", lambda w: {"message_id": w.mail["quarantined"]},
        lambda w: {"product": str(w.product.pk), "title": "Read by hand", "description": "From a broken e-mail."},
        TRIAGE_ROLES, 302),
    # Still unreadable when tried again: it stays quarantined, and staff are told (a redirect).
    Row("mailintake:reopen", "POST", lambda w: {"message_id": w.mail["pgp_quarantined"]},
        allowed=TRIAGE_ROLES, ok=302),
    Row("mailintake:addresses", "GET", _none),
    Row("mailintake:address_add", "POST", _none,
        lambda w: {"local_part": "disclosure", "domain": "matrix.example", "product": str(w.product.pk)},
        SETTINGS_ROLES, 302),
    Row("mailintake:address_deactivate", "POST", lambda w: {"address_id": w.mail["address"]},
        allowed=SETTINGS_ROLES, ok=302),
    Row("mailintake:report_mail", "GET", _report),
    # OpenPGP key (HTML): settings roles only; the world's organisation has an active key to retire
    Row("pgp:settings", "GET", _none, allowed=SETTINGS_ROLES),
    Row("pgp:generate", "POST", _none, lambda w: {"name": "Matrix security team", "years": "1"}, SETTINGS_ROLES, 302),
    Row("pgp:import", "POST", _none, _pgp_import, SETTINGS_ROLES, 302),
    Row("pgp:retire", "POST", _none, allowed=SETTINGS_ROLES, ok=302),
    Row("mailintake:imap_add", "GET", _none, allowed=SETTINGS_ROLES),
    Row("mailintake:imap_add", "POST", _none, _mailbox_form, SETTINGS_ROLES, 302),
    Row("mailintake:imap_edit", "GET", _mailbox, allowed=SETTINGS_ROLES),
    Row("mailintake:imap_edit", "POST", _mailbox, _mailbox_form, SETTINGS_ROLES, 302),
    Row("mailintake:imap_disable", "POST", _mailbox, allowed=SETTINGS_ROLES, ok=302),
    Row("mailintake:imap_enable", "POST", lambda w: {"mailbox_id": w.mail["disabled_mailbox"]},
        allowed=SETTINGS_ROLES, ok=302),
    Row("mailintake:imap_check", "POST", _mailbox, allowed=SETTINGS_ROLES, ok=302, changes=False),
    Row("mailintake:imap_poll", "POST", _mailbox, allowed=SETTINGS_ROLES, ok=302),
    Row("api_report_messages", "GET", _report, allowed=READ_ROLES, api=True),
    Row("api_report_messages", "POST", _report, lambda w: {"body": "Fixed in 2.4.3?", "is_internal": True},
        READ_ROLES - {Role.VIEWER}, 201, api=True),
]


def send(client, row: Row, url: str, data: dict, **extra):
    """The row's request: GET, a form POST, or a JSON POST for the API."""
    if row.method == "GET":
        return client.get(url, **extra)
    if row.api:
        return client.post(url, json.dumps(data), content_type="application/json", **extra)
    return client.post(url, data, **extra)


@pytest.fixture
def world(db) -> World:
    return build_world()


def _call(client, row: Row, world: World, **url_overrides):
    return send(client, row, row.url(world, **url_overrides), row.data(world))


# --- every row x every role -----------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_each_role_gets_what_the_matrix_says_on_each_staff_endpoint(client, world, row, role):
    verified_login(client, world.members[role].user)
    before = fingerprint(world.organisation)

    response = _call(client, row, world)

    if role in row.allowed:
        assert response.status_code == row.ok, response.content[:500]
        if row.method == "POST" and row.changes:  # the action took effect, it was not just answered politely
            assert fingerprint(world.organisation) != before
    else:
        assert response.status_code == 403, response.content[:500]
        assert fingerprint(world.organisation) == before
        assert world.secrets["title"].encode() not in response.content


def test_the_matrix_allows_each_role_exactly_what_the_role_sets_say():
    """A sanity check of the table itself against organisations/models.py, so an edit of the
    table cannot quietly widen a row."""
    by_id = {row.id: row.allowed for row in ROWS}
    assert all(Role.CI_UPLOADER not in row.allowed for row in ROWS if not row.api)
    assert by_id["POST-api_reports"] == SUBMIT_ROLES
    assert {by_id[i] for i in ("POST-reports:transition", "POST-reports:severity", "POST-reports:assign",
                               "POST-api_report_transition", "POST-api_report_severity",
                               "POST-api_report_assignee")} == {TRIAGE_ROLES}
    assert Role.VIEWER not in by_id["POST-reports:message"] | by_id["POST-api_report_messages"]
    assert Role.VIEWER not in by_id["POST-attachments:upload"]
    assert all(row.allowed <= SETTINGS_ROLES for row in ROWS if row.name.startswith(("products:", "organisations:"))
               and row.method == "POST")


# --- the developer and reports not assigned to them ------------------------------------------

REPORT_ROWS = [row for row in ROWS if row.kwargs in (_report, _attachment)]


@pytest.mark.parametrize("row", REPORT_ROWS, ids=lambda row: row.id)
def test_a_developer_gets_404_for_a_report_not_assigned_to_them_and_403_where_the_role_comes_first(
    client, world, row
):
    verified_login(client, world.members[Role.DEVELOPER].user)
    before = fingerprint(world.organisation)
    url_kwargs = {"number": world.other_report.number}

    response = _call(client, row, world, **url_kwargs)

    expected = 404 if Role.DEVELOPER in row.allowed else 403
    assert response.status_code == expected, response.content[:500]
    assert world.secrets["other_title"].encode() not in response.content
    assert fingerprint(world.organisation) == before


@pytest.mark.parametrize("path", ["reports", "api"])
def test_a_developers_queue_lists_only_the_reports_assigned_to_them(client, world, path):
    verified_login(client, world.members[Role.DEVELOPER].user)
    slug = world.organisation.slug
    url = f"/o/{slug}/reports/?state=all" if path == "reports" else f"/api/v1/organisations/{slug}/reports/?state=all"

    body = client.get(url).content.decode()

    assert world.report.reference in body
    assert world.other_report.reference not in body


@pytest.mark.parametrize("role", [Role.TRIAGER, Role.VIEWER])
def test_a_member_scoped_to_one_product_gets_404_for_everything_of_another_product(client, world, role):
    other_product = make_product(world.organisation, name="Scoped-out product")
    other = make_report(other_product, title="SCOPED-OUT-SECRET").report
    other_attachment = attachment_add(report=other, from_reporter=True,
                                      upload=SimpleUploadedFile("x.txt", b"SCOPED-OUT-SECRET\n"))
    member = world.members[role]
    membership_products_set(membership=member, product_ids=[world.product.pk], actor=world.members[Role.OWNER])
    verified_login(client, member.user)
    before = fingerprint(world.organisation)

    product_rows = [row for row in ROWS if "product" in row.kwargs(world)]
    assert len(product_rows) == 9
    for row in REPORT_ROWS + product_rows:
        overrides = {"number": other.number, "attachment_id": other_attachment.pk, "product": other_product.slug}
        kwargs = {key: overrides.get(key, value) for key, value in row.kwargs(world).items()}
        response = send(client, row, row.url(world, **kwargs), row.data(world))
        assert response.status_code == (404 if role in row.allowed else 403), row.id
        assert b"SCOPED-OUT-SECRET" not in response.content, row.id
    queue = client.get(f"/api/v1/organisations/{world.organisation.slug}/reports/?state=all").json()
    assert other.number not in {r["number"] for r in queue["results"]}
    assert fingerprint(world.organisation) == before


# --- personal API tokens act as a product-scoped ci_uploader (create) or viewer (read) ---------

API_ROWS = [row for row in ROWS if row.api]


@pytest.mark.parametrize(("permission", "role"), [("report:create", Role.CI_UPLOADER), ("report:read", Role.VIEWER)])
@pytest.mark.parametrize("row", API_ROWS, ids=lambda row: row.id)
def test_an_api_token_gets_what_the_matrix_gives_its_role(client, world, row, permission, role):
    _, raw = api_token_create(organisation=world.organisation, product=world.product, permission=permission,
                              name="CI", lifetime_days=30, created_by=world.members[Role.OWNER].user)
    before = fingerprint(world.organisation)

    response = client.generic(row.method, row.url(world), json.dumps(row.data(world)) if row.method == "POST" else "",
                              content_type="application/json", HTTP_AUTHORIZATION=f"Token {raw}")

    assert response.status_code == (row.ok if role in row.allowed else 403), response.content[:300]
    if role not in row.allowed:
        assert fingerprint(world.organisation) == before


def test_an_api_token_does_not_open_html_pages(client, world):
    _, raw = api_token_create(organisation=world.organisation, product=world.product, permission="report:read",
                              name="CI", lifetime_days=30, created_by=world.members[Role.OWNER].user)

    response = client.get(f"/o/{world.organisation.slug}/reports/", HTTP_AUTHORIZATION=f"Token {raw}")

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


# --- anonymous and half-logged-in visitors ----------------------------------------------------

@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_an_anonymous_visitor_is_sent_to_login_or_refused_by_the_api(client, world, row):
    before = fingerprint(world.organisation)

    response = _call(client, row, world)

    if row.api:
        assert response.status_code == 401
        assert response["WWW-Authenticate"]
    else:
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:login") + "?next=")
    assert world.secrets["title"].encode() not in response.content
    assert fingerprint(world.organisation) == before


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_an_owner_without_a_verified_second_factor_is_sent_to_the_two_factor_page_or_refused(client, world, row):
    owner = world.members[Role.OWNER].user
    totp_device_for(owner)
    client.force_login(owner)  # password only
    before = fingerprint(world.organisation)

    response = _call(client, row, world)

    if row.api:
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:two_factor") + "?next=")
    assert world.secrets["title"].encode() not in response.content
    assert fingerprint(world.organisation) == before


# --- the table covers every staff URL -------------------------------------------------------

def _walk(resolver=None, namespace: str = ""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
        else:
            assert isinstance(entry, URLPattern)
            yield f"{namespace}{entry.name}", entry.callback


def _view_key(callback) -> str:
    target = getattr(callback, "view_class", callback)
    return f"{target.__module__}.{target.__qualname__}"


def _methods(callback) -> set[str]:
    view_class = getattr(callback, "view_class", None)
    if view_class is not None and issubclass(view_class, APIView):
        return {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)}
    view = callback
    while view is not None:  # require_GET / require_POST / require_http_methods in the wraps chain
        cells = dict(zip(view.__code__.co_freevars, (c.cell_contents for c in view.__closure__ or ()), strict=True))
        if "request_method_list" in cells:
            return set(cells["request_method_list"]) - {"HEAD"}
        view = getattr(view, "__wrapped__", None)
    return {"GET", "POST"}  # undeclared: both must be in the table


def staff_routes() -> set[tuple[str, str]]:
    """(URL name, method) of every view that is not deliberately public."""
    routes = set()
    for name, callback in _walk():
        if _view_key(callback) in PUBLIC_VIEWS or getattr(callback, "view_class", None) is LogoutView:
            continue
        routes |= {(name, method) for method in _methods(callback)}
    return routes


def test_the_matrix_has_a_row_for_every_staff_url_and_method_and_no_other():
    assert {(row.name, row.method) for row in ROWS} == staff_routes()


def test_the_route_walk_sees_html_and_api_staff_urls_but_no_public_ones():
    routes = staff_routes()
    assert {("reports:transition", "POST"), ("api_report_messages", "POST"), ("attachments:download", "GET"),
            ("organisations:member_remove", "POST")} <= routes
    assert not {name for name, _ in routes} & {"intake:tracking", "intake:report_form", "accounts:login",
                                                "attachments:tracking_download", "api-schema", "health"}
