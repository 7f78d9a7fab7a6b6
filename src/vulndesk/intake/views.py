"""The reporter's side: the public report form and the tracking page. No account needed;
the tracking link's token is the only key, and only its hash is stored."""

from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from vulndesk.attachments.forms import attachments_help
from vulndesk.attachments.services import attachment_add
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.core.ratelimit import rate_limited
from vulndesk.intake.forms import PublicReportForm, ReporterMessageForm
from vulndesk.organisations.access import public_view
from vulndesk.pgp.models import ReporterPgpKey
from vulndesk.pgp.services import reporter_key_add
from vulndesk.products.selectors import product_public, supported_versions_for_product
from vulndesk.reports import selectors, services
from vulndesk.reports.models import Source
from vulndesk.reports.presentation import clock_views


def _no_referrer(response):
    # The tracking URL is a secret: never let it leak in a Referer header.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@public_view
@rate_limited("report_submit")
@require_http_methods(["GET", "POST"])
def report_form_view(request, organisation, product):
    product = product_public(organisation_slug=organisation, product_slug=product)
    # Bound on every POST, even an empty one ("request.POST or None" would answer it 200, unbound).
    form = PublicReportForm(request.POST if request.method == "POST" else None,
                            request.FILES if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            data = dict(form.cleaned_data)
            files = data.pop("attachments", [])
            pgp_key = data.pop("reporter_pgp_key", None)
            with transaction.atomic():  # the report, its files and key are filed together, or not at all
                created = services.report_create(product=product, source=Source.WEB, **data)
                for upload in files:
                    attachment_add(report=created.report, upload=upload, from_reporter=True)
                if pgp_key is not None:
                    reporter_key_add(report=created.report, key=pgp_key, source=ReporterPgpKey.Source.WEB)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            request.session["just_submitted"] = created.report.reference
            return _no_referrer(redirect(reverse("intake:tracking", kwargs={"token": created.tracking_token})))
    context = {
        "product": product,
        "organisation": product.organisation,
        "policy": product.policy,
        "supported_versions": supported_versions_for_product(product=product),
        "form": form,
    }
    return render(request, "intake/report_form.html", context, status=422 if form.errors else 200)


def _tracking_context(request, report, token, form=None):
    return {
        "report": report,
        "organisation": report.organisation,
        "product": report.product,
        "clocks": clock_views(report, clock.now()),
        "timeline": selectors.timeline_for_report(report=report, public_only=True),
        "messages_thread": selectors.messages_for_report(report=report, include_internal=False),
        "form": form or ReporterMessageForm(),
        "just_submitted": request.session.get("just_submitted") == report.reference,
        "tracking_url": request.build_absolute_uri(reverse("intake:tracking", kwargs={"token": token})),
        "token": token,
        "attachments_help": attachments_help(),
    }


@public_view
@never_cache
@require_http_methods(["GET"])
def tracking_view(request, token):
    report = selectors.report_for_tracking_token(token=token)
    context = _tracking_context(request, report, token)
    request.session.pop("just_submitted", None)
    return _no_referrer(render(request, "intake/tracking.html", context))


@public_view
@rate_limited("tracking_message")
@require_POST
def tracking_message_view(request, token):
    report = selectors.report_for_tracking_token(token=token)
    form = ReporterMessageForm(request.POST)
    if form.is_valid():
        try:
            services.reporter_message_post(report=report, body=form.cleaned_data["body"])
        except DomainError as error:
            form.add_error("body", error.message)
        else:
            return _no_referrer(redirect(reverse("intake:tracking", kwargs={"token": token}) + "#thread"))
    context = _tracking_context(request, report, token, form)
    return _no_referrer(render(request, "intake/tracking.html", context, status=422))
