"""The public site: advisory index and pages, Atom feeds, product pages, security.txt and
SECURITY.md. No account needed; every view is registered with ``public_view``.

Views are thin: they read through ``public.selectors`` (published rows and their public face
only) and shape documents with ``public.presentation``. A draft or embargoed advisory, a
missing one and one of another organisation all give the same 404.
"""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from vulndesk.core import clock
from vulndesk.core.public import public_view
from vulndesk.public import presentation, selectors
from vulndesk.public.feeds import AdvisoryFeed
from vulndesk.public.forms import AdvisoryFilterForm
from vulndesk.public.pagination import cursor_decode
from vulndesk.public.security_md import SecurityMdLinks, business_days_note, policy_sentences, security_md
from vulndesk.public.security_txt import (
    SecurityTxt,
    encryption_key_urls,
    security_txt_expires,
    security_txt_render,
)

PAGE_SIZE = 25
RECENT_ON_PRODUCT_PAGE = 5
# Feeds and the two policy files are the same for every visitor; a short shared-cache life
# spares the database when feed readers poll, and a new revision still shows within minutes.
PUBLIC_CACHE = "public, max-age=300"
# The OSV document is served by the osv app under this prefix (docs/design/disclosure.md).
OSV_VULNS_PATH = "/api/osv/v1/vulns/"


def _pager_url(request, **cursor) -> str:
    params = {key: value for key, value in request.GET.items() if key not in {"after", "before"} and value}
    return "?" + urlencode(params | cursor)


def _advisory_index(request, organisation, product=None):
    products = selectors.products_public(organisation=organisation) if product is None else []
    form = AdvisoryFilterForm(request.GET or None, products=products)
    chosen = product or next((p for p in products if p.slug == form.value("product")), None)
    query, severity = form.value("q"), form.value("severity")
    page = selectors.advisories_public_page(
        organisation=organisation, product=chosen, query=query, severity=severity, size=PAGE_SIZE,
        after=cursor_decode(request.GET.get("after")), before=cursor_decode(request.GET.get("before")))
    feed_kwargs = {"organisation": organisation.slug} | ({"product": chosen.slug} if chosen else {})
    context = {
        "organisation": organisation, "product": product, "chosen_product": chosen, "form": form, "page": page,
        "filtered": bool(query or severity or (chosen and not product)),
        "paged": bool(request.GET.get("after") or request.GET.get("before")),
        "older_url": _pager_url(request, after=page.older) if page.older else "",
        "newer_url": _pager_url(request, before=page.newer) if page.newer else "",
        "feed_url": reverse("public:product_feed" if chosen else "public:feed", kwargs=feed_kwargs),
        "report_url": _report_url(organisation, product) if product else "",
    }
    return render(request, "public/advisory_index.html", context)


def _report_url(organisation, product) -> str:
    if not product.accepts_reports:
        return ""
    return reverse("intake:report_form", kwargs={"organisation": organisation.slug, "product": product.slug})


@public_view
@require_safe
def advisories_view(request, organisation):
    return _advisory_index(request, selectors.organisation_public(slug=organisation))


@public_view
@require_safe
def product_advisories_view(request, organisation, product):
    organisation = selectors.organisation_public(slug=organisation)
    return _advisory_index(request, organisation, selectors.product_public(organisation=organisation, slug=product))


@public_view
@require_safe
def advisory_view(request, organisation, identifier):
    organisation = selectors.organisation_public(slug=organisation)
    advisory = selectors.advisory_public(organisation=organisation, identifier=identifier)
    view = presentation.advisory_view(advisory.public_document, title=advisory.public_title)
    revisions = selectors.advisory_revisions_public(advisory=advisory)
    context = {
        "organisation": organisation,
        "advisory": advisory,
        "view": view,
        "revisions": revisions,
        "withdrawal_reason": (revisions[0].changelog.removeprefix("Withdrawn:").strip()
                              if view.withdrawn and revisions else ""),
        "products": selectors.products_for_ids(organisation=organisation, product_ids=advisory.public_product_ids),
        "osv_url": f"{OSV_VULNS_PATH}{view.osv_id}" if view.osv_id else "",
    }
    return render(request, "public/advisory_detail.html", context)


@public_view
@require_safe
def feed_view(request, organisation, product=None):
    response = AdvisoryFeed()(request, organisation=organisation, product=product)
    response["Cache-Control"] = PUBLIC_CACHE
    return response


@public_view
@require_safe
def products_view(request, organisation):
    organisation = selectors.organisation_public(slug=organisation)
    products = selectors.products_public(organisation=organisation)
    return render(request, "public/product_list.html", {
        "organisation": organisation,
        "products": [(product, _report_url(organisation, product)) for product in products],
    })


@public_view
@require_safe
def product_view(request, organisation, product):
    organisation = selectors.organisation_public(slug=organisation)
    product = selectors.product_public(organisation=organisation, slug=product)
    recent = selectors.advisories_public_page(organisation=organisation, product=product,
                                              size=RECENT_ON_PRODUCT_PAGE)
    return render(request, "public/product_detail.html", {
        "organisation": organisation,
        "product": product,
        "policy": product.policy,
        "policy_words": policy_sentences(product.policy),
        "business_days_note": business_days_note(organisation),
        "supported_versions": selectors.supported_versions_public(product=product),
        "report_url": _report_url(organisation, product),
        "recent": recent,
    })


@public_view
@require_safe
def product_security_md_view(request, organisation, product):
    organisation = selectors.organisation_public(slug=organisation)
    product = selectors.product_public(organisation=organisation, slug=product)
    absolute = request.build_absolute_uri
    slugs = {"organisation": organisation.slug, "product": product.slug}
    links = SecurityMdLinks(
        report_form=absolute(_report_url(organisation, product)) if product.accepts_reports else "",
        product_page=absolute(reverse("public:product", kwargs=slugs)),
        advisories=absolute(reverse("public:product_advisories", kwargs=slugs)),
        feed=absolute(reverse("public:product_feed", kwargs=slugs)),
    )
    text = security_md(organisation=organisation, product=product, policy=product.policy,
                       versions=selectors.supported_versions_public(product=product),
                       contact_email=organisation.security_contact_email, links=links)
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="SECURITY.md"'
    response["Cache-Control"] = PUBLIC_CACHE
    return response


def _security_txt_response(request, organisation):
    absolute = request.build_absolute_uri
    products = [p for p in selectors.products_public(organisation=organisation) if p.accepts_reports]
    contacts = []
    if len(products) == 1:
        contacts.append(absolute(_report_url(organisation, products[0])))
    elif products:
        contacts.append(absolute(reverse("public:products", kwargs={"organisation": organisation.slug})))
    if organisation.security_contact_email:
        contacts.append(f"mailto:{organisation.security_contact_email}")
    if not contacts:
        # RFC 9116 requires a Contact; an organisation that takes no reports has no security.txt.
        return render(request, "core/404.html", status=404)
    scheme = "https" if request.is_secure() else "http"
    org_path = reverse("public:organisation_security_txt", kwargs={"organisation": organisation.slug})
    canonical = [absolute(request.path)]
    for hostname in selectors.public_site_hostnames(organisation=organisation):
        canonical.append(f"{scheme}://{hostname}{reverse('public:security_txt')}")
    canonical.append(absolute(org_path))
    txt = SecurityTxt(
        organisation_name=organisation.name,
        contacts=contacts,
        expires=security_txt_expires(clock.now()),
        encryption=encryption_key_urls(organisation),
        acknowledgments=[absolute(reverse("public:advisories", kwargs={"organisation": organisation.slug}))],
        preferred_languages=["en"],
        canonical=list(dict.fromkeys(canonical)),
        policy=[absolute(reverse("public:product_security_md",
                                 kwargs={"organisation": organisation.slug, "product": p.slug})) for p in products],
    )
    response = HttpResponse(security_txt_render(txt), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = PUBLIC_CACHE
    return response


@public_view
@require_safe
def security_txt_view(request):
    """``/.well-known/security.txt`` of the organisation this host name serves."""
    organisation = selectors.organisation_for_host(host=request.get_host())
    if organisation is None:
        return render(request, "core/404.html", status=404)
    return _security_txt_response(request, organisation)


@public_view
@require_safe
def organisation_security_txt_view(request, organisation):
    return _security_txt_response(request, selectors.organisation_public(slug=organisation))
