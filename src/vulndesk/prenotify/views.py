"""Pre-notification pages. Staff: the downstream-contacts settings page (owners and security
managers) and the advisory's pre-notification panel (triage roles). Recipients: the private
embargo link, public by design, rate-limited per address, with no caching, no Referer and no
indexing, and 404 once the link is expired, revoked or the advisory is public. Opening the link
shows a button; only pressing it shows the draft and is logged as a view, so mail scanners that
fetch every link in a mail do not fill the view log."""

import math

from django.conf import settings
from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from vulndesk.advisories.selectors import advisory_for_member
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.core.public import public_view
from vulndesk.core.ratelimit import client_ip, rate_limit_hit
from vulndesk.organisations.access import member_view
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES
from vulndesk.prenotify import selectors, services
from vulndesk.prenotify.forms import ContactForm, SendForm
from vulndesk.prenotify.links import LinkStatus, advisory_is_public, effective_expiry, link_status
from vulndesk.prenotify.panel import panel_context

# settings.RATE_LIMITS["embargo_view"] when configured; until then this default. A recipient
# opens their link a few times; 30 views per 5 minutes per address is plenty for a team behind
# one NAT and bounds how fast the view log can be filled.
EMBARGO_VIEW_SCOPE = "embargo_view"
EMBARGO_VIEW_DEFAULT_LIMIT = (30, 300)


# --- downstream contacts (settings) ------------------------------------------------------------

def _contacts_url(member) -> str:
    return reverse("prenotify:contacts", kwargs={"organisation": member.organisation.slug})


def _contacts_page(request, member, *, form=None, status=200):
    return render(request, "prenotify/contacts.html", {
        "member": member, "organisation": member.organisation, "nav": "prenotify",
        "contacts": selectors.contacts_for_member(member=member), "form": form or ContactForm(),
    }, status=status)


def _apply(form, action):
    """Run a service with the form's data; a DomainError lands on its field. True on success."""
    if not form.is_valid():
        return False
    try:
        action(form.cleaned_data)
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return False
    return True


@member_view(*SETTINGS_ROLES)
@require_GET
def contacts_view(request, member):
    return _contacts_page(request, member)


@member_view(*SETTINGS_ROLES)
@require_POST
def contact_add_view(request, member):
    form = ContactForm(request.POST)
    if not _apply(form, lambda data: services.contact_add(organisation=member.organisation, actor=member, **data)):
        return _contacts_page(request, member, form=form, status=422)
    flash.success(request, f"{form.cleaned_data['name']} added.")
    return redirect(_contacts_url(member))


@member_view(*SETTINGS_ROLES)
@require_http_methods(["GET", "POST"])
def contact_edit_view(request, member, contact_id):
    contact = selectors.contact_for_member(member=member, contact_id=contact_id)
    if request.method == "GET":
        form = ContactForm(initial={"name": contact.name, "email": contact.email, "kind": contact.kind,
                                    "pgp_note": contact.pgp_note})
    else:
        form = ContactForm(request.POST)
        if _apply(form, lambda data: services.contact_update(contact=contact, actor=member, **data)):
            flash.success(request, f"{contact.name} saved.")
            return redirect(_contacts_url(member))
    return render(request, "prenotify/contact_edit.html", {
        "member": member, "organisation": member.organisation, "nav": "prenotify", "contact": contact,
        "form": form,
    }, status=422 if form.errors else 200)


@member_view(*SETTINGS_ROLES)
@require_POST
def contact_remove_view(request, member, contact_id):
    contact = selectors.contact_for_member(member=member, contact_id=contact_id)
    name = contact.name
    revoked = services.contact_remove(contact=contact, actor=member)
    flash.success(request, f"{name} removed." + (f" {revoked} live link(s) revoked." if revoked else ""))
    return redirect(_contacts_url(member))


# --- the advisory's pre-notification panel -------------------------------------------------------

def _panel_url(member, advisory) -> str:
    return reverse("prenotify:advisory", kwargs={"organisation": member.organisation.slug,
                                                 "identifier": advisory.identifier})


def _panel(request, member, advisory, *, form=None, status=200):
    """The fragment alone for htmx, else the panel page around it."""
    context = {"member": member, "organisation": member.organisation, "advisory": advisory, "nav": "advisories"}
    context |= panel_context(member=member, advisory=advisory, form=form)
    template = "prenotify/partials/_advisory_panel.html" if request.htmx else "prenotify/advisory.html"
    return render(request, template, context, status=status)


def _after_change(request, member, advisory):
    """htmx swaps the fresh panel in; a plain POST goes back to the advisory page, whose panel
    shows the result (or to this app's panel page while that page does not exist)."""
    if request.htmx:
        return _panel(request, member, advisory)
    try:
        url = reverse("advisories:detail", kwargs={"organisation": member.organisation.slug,
                                                   "identifier": advisory.identifier}) + "#prenotify-panel"
    except NoReverseMatch:
        url = _panel_url(member, advisory)
    return redirect(url)


@member_view(*TRIAGE_ROLES)
@require_GET
def advisory_panel_view(request, member, identifier):
    advisory = advisory_for_member(member=member, identifier=identifier)
    return _panel(request, member, advisory)


@member_view(*TRIAGE_ROLES)
@require_POST
def prenotification_send_view(request, member, identifier):
    advisory = advisory_for_member(member=member, identifier=identifier)
    form = SendForm(request.POST, contacts=selectors.contacts_queryset(member=member))
    result = None

    def send(data):
        nonlocal result
        result = services.prenotification_send(advisory=advisory, actor=member, contacts=list(data["contacts"]),
                                               expires_at=data["expires_at"])

    if not _apply(form, send):
        return _panel(request, member, advisory, form=form, status=422)
    if result.sent:
        flash.success(request, f"Pre-notification sent to {', '.join(row.recipient_name for row in result.sent)}.")
    if result.failed:
        flash.error(request, "The mail server refused the mail to "
                             f"{', '.join(row.recipient_name for row in result.failed)}: nothing was shared with them "
                             "and their link is closed. Check the address and send again.")
    return _after_change(request, member, advisory)


@member_view(*TRIAGE_ROLES)
@require_POST
def prenotification_revoke_view(request, member, identifier, prenotification_id):
    advisory = advisory_for_member(member=member, identifier=identifier)
    row = selectors.prenotification_for_member(member=member, advisory=advisory, prenotification_id=prenotification_id)
    services.prenotification_revoke(prenotification=row, actor=member)
    flash.success(request, f"The link of {row.recipient_name} is revoked: it now answers 'not found'.")
    return _after_change(request, member, advisory)


# --- the recipient's private link ---------------------------------------------------------------------

def _private(response):
    # The URL is the secret: no cache may keep the page, no Referer may carry the URL away, and
    # no search engine may list it, whatever the answer.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _public_page_url(advisory) -> str | None:
    # The public app owns the advisory page; until its URL exists the 404 page names the
    # advisory without a link.
    try:
        return reverse("public:advisory", kwargs={"identifier": advisory.identifier})
    except NoReverseMatch:
        return None


def _gone(request, advisory=None):
    context = {"public_advisory": advisory, "public_url": _public_page_url(advisory) if advisory else None}
    return _private(render(request, "prenotify/embargo_gone.html", context, status=404))


# Not Django's CSRF check: the 256-bit token in the path is the whole authority here, as it is
# for the GET. No cookie or session is involved, so a forged cross-site POST achieves nothing its
# author could not do alone (they would need the token, and with it they could open the draft
# themselves). Django's check would also refuse every honest POST: the page sends
# ``Referrer-Policy: no-referrer``, so browsers send ``Origin: null`` with the form.
@public_view
@csrf_exempt
@require_http_methods(["GET", "POST"])
def embargo_view(request, token):
    """GET (which mail scanners and link previews also do) shows what the link is and a "Show the
    advisory" button, and records nothing; only that button's POST shows the draft and counts as
    a view. Both are rate-limited together and answer 404 once the link is closed."""
    limit, window = getattr(settings, "RATE_LIMITS", {}).get(EMBARGO_VIEW_SCOPE, EMBARGO_VIEW_DEFAULT_LIMIT)
    decision = rate_limit_hit(scope=EMBARGO_VIEW_SCOPE, ident=client_ip(request), limit=limit, window=window)
    if not decision.allowed:
        response = render(request, "core/429.html", {"retry_after": decision.retry_after,
                                                     "minutes": math.ceil(decision.retry_after / 60)}, status=429)
        response["Retry-After"] = str(decision.retry_after)
        return _private(response)
    try:
        row = selectors.prenotification_for_token(token=token)
    except NotFound:
        return _gone(request)
    advisory = row.advisory
    status = link_status(revoked_at=row.revoked_at, expires_at=row.expires_at, embargo_until=advisory.embargo_until,
                         advisory_is_public=advisory_is_public(advisory), now=clock.now())
    if status == LinkStatus.PUBLIC:
        return _gone(request, advisory)
    if status != LinkStatus.ACTIVE:
        return _gone(request)
    context = {
        "prenotification": row, "advisory": advisory, "organisation": advisory.organisation,
        "expires_at": effective_expiry(expires_at=row.expires_at, embargo_until=advisory.embargo_until),
    }
    if request.method == "GET":
        return _private(render(request, "prenotify/embargo_open.html", context))
    services.embargo_view_record(prenotification=row, ip_address=client_ip(request),
                                 user_agent=request.META.get("HTTP_USER_AGENT", ""))
    context["affected"] = selectors.affected_packages_for_embargo(prenotification=row)
    return _private(render(request, "prenotify/embargo.html", context))
