"""The OpenPGP settings page (owners and security managers) and the published public key.

Settings actions are plain POSTs that redirect with a flash message; an invalid form re-renders
the page with its errors (422). The public key is served as text at a stable address for
security.txt, and through the Web Key Directory for mail programs (``pgp.publication``).
"""

from django.contrib import messages as flash
from django.http import HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST, require_safe

from vulndesk.core.errors import DomainError
from vulndesk.core.public import public_view
from vulndesk.organisations.access import member_view
from vulndesk.organisations.models import SETTINGS_ROLES
from vulndesk.pgp import publication, selectors, services
from vulndesk.pgp.forms import KeyGenerateForm, KeyImportForm
from vulndesk.public.selectors import organisation_for_host, organisation_public

PUBLIC_KEY_CACHE = "public, max-age=300"


def _settings_url(member) -> str:
    return reverse("pgp:settings", kwargs={"organisation": member.organisation.slug})


def _settings_page(request, member, *, generate_form=None, import_form=None, status=200):
    organisation = member.organisation
    keys = selectors.organisation_keys_for_member(member=member)
    active = next((key for key in keys if key.state == key.State.ACTIVE), None)
    response = render(request, "pgp/settings.html", {
        "member": member, "organisation": organisation, "nav": "pgp", "active": active,
        "retired": [key for key in keys if key is not active],
        "public_key_url": publication.public_key_url(organisation) if active else "",
        "generate_form": generate_form or KeyGenerateForm(initial={
            "name": f"{organisation.name} security team"[:100],
            "email": selectors.organisation_key_default_address(organisation=organisation)}),
        "import_form": import_form or KeyImportForm(),
        "undecrypted_waiting": selectors.undecrypted_quarantined_count(organisation=organisation),
    }, status=status)
    response["Cache-Control"] = "no-store"
    return response


@member_view(*SETTINGS_ROLES)
@require_GET
def pgp_settings_view(request, member):
    return _settings_page(request, member)


@member_view(*SETTINGS_ROLES)
@require_POST
def pgp_key_generate_view(request, member):
    form = KeyGenerateForm(request.POST)
    if form.is_valid():
        try:
            key = services.organisation_key_generate(organisation=member.organisation, actor=member, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, f"New key {key.fingerprint_groups} generated and published.")
            return redirect(_settings_url(member))
    return _settings_page(request, member, generate_form=form, status=422)


@member_view(*SETTINGS_ROLES)
@sensitive_post_parameters("secret_key", "passphrase")  # error reports never show the key
@require_POST
def pgp_key_import_view(request, member):
    form = KeyImportForm(request.POST)
    if form.is_valid():
        try:
            key = services.organisation_key_import(organisation=member.organisation, actor=member, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else "secret_key", error.message)
        else:
            flash.success(request, f"Key {key.fingerprint_groups} imported and published.")
            return redirect(_settings_url(member))
    form.data = form.data.copy()
    form.data["passphrase"] = ""  # never echoed back
    return _settings_page(request, member, import_form=form, status=422)


@member_view(*SETTINGS_ROLES)
@require_POST
def pgp_key_retire_view(request, member):
    try:
        key = services.organisation_key_retire(organisation=member.organisation, actor=member)
    except DomainError as error:
        flash.error(request, error.message)
    else:
        flash.success(request, f"Key {key.fingerprint_groups} retired: no longer published or used for replies. "
                               "Mail already encrypted to it still opens.")
    return redirect(_settings_url(member))


# --- publication --------------------------------------------------------------------------------

def _not_found(request):
    return render(request, "core/404.html", status=404)


@public_view
@require_safe
def public_key_view(request, organisation):
    key = selectors.organisation_key_active(organisation=organisation_public(slug=organisation))
    if key is None:
        return _not_found(request)
    response = HttpResponse(key.public_key, content_type="text/plain; charset=us-ascii")
    response["Cache-Control"] = PUBLIC_KEY_CACHE
    response["Content-Disposition"] = f'inline; filename="{key.fingerprint}.asc"'
    return response


def _host_key(request):
    hostname, _port = split_domain_port(request.get_host())
    organisation = organisation_for_host(host=request.get_host())
    key = selectors.organisation_key_active(organisation=organisation) if organisation else None
    return hostname, key


@public_view
@require_safe
def wkd_policy_view(request):
    """The WKD policy file: its presence says this host serves a key directory."""
    _hostname, key = _host_key(request)
    if key is None:
        return _not_found(request)
    response = HttpResponse(b"", content_type="text/plain")
    response["Access-Control-Allow-Origin"] = "*"  # the draft asks for it: web mailers fetch keys cross-origin
    return response


@public_view
@require_safe
def wkd_key_view(request, hashed):
    hostname, key = _host_key(request)
    if key is None or not publication.wkd_matches(user_id=key.user_id, hostname=hostname, hashed_local_part=hashed):
        return _not_found(request)
    response = HttpResponse(publication.binary_key(key.public_key), content_type="application/octet-stream")
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = PUBLIC_KEY_CACHE
    return response
