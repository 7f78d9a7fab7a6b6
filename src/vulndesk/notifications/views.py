"""Public subscription pages and the staff notification settings. Thin: forms check shape,
services and selectors do the rest.

Public pages (``/subscriptions/…``): subscribe (rate-limited per IP, same answer whether or not
the address is already subscribed), confirm and unsubscribe. Mailed links open a page with a
POST button, because mail scanners fetch every GET. The unsubscribe URL also takes the RFC 8058
one-click POST, which the mail provider sends without our cookies or a CSRF token: it is
``csrf_exempt``, and safe so, because it uses no session or cookie at all, only the signed token
in its URL. Token pages send no Referer, are not cached and not indexed.

Staff pages (``/o/<organisation>/notifications/…``): triagers and up see the overview and the
delivery log; owners and security managers manage webhooks and retry deliveries.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from vulndesk.core.errors import DomainError, NotFound
from vulndesk.core.public import public_view
from vulndesk.core.ratelimit import client_ip, rate_limit_hit, too_many_requests
from vulndesk.notifications import selectors, services
from vulndesk.notifications.config import setting
from vulndesk.notifications.forms import SubscribeForm, WebhookEditForm, WebhookForm
from vulndesk.notifications.models import Delivery
from vulndesk.organisations.access import member_view
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES


def _private(response):
    # Token links are secrets: no Referer to anyone, no cache, no search engine.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


def _subscribe_rate_limited(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST":
            limit, window = setting("NOTIFICATIONS_SUBSCRIBE_RATE_LIMIT")
            decision = rate_limit_hit(scope="notifications_subscribe", ident=client_ip(request), limit=limit,
                                      window=window)
            if not decision.allowed:
                return too_many_requests(request, decision.retry_after)
        return view(request, *args, **kwargs)

    return wrapper


def _link_invalid(request):
    return _private(render(request, "notifications/link_invalid.html", status=404))


# --- public -------------------------------------------------------------------------------------

@public_view
@_subscribe_rate_limited
@require_http_methods(["GET", "POST"])
def subscribe_view(request, organisation, product=None):
    if product is not None:
        product = selectors.product_for_subscription(organisation_slug=organisation, product_slug=product)
        organisation = product.organisation
    else:
        organisation = selectors.organisation_for_subscription(organisation_slug=organisation)
    form = SubscribeForm(request.POST if request.method == "POST" else None)
    context = {"organisation": organisation, "product": product, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            services.subscription_request(organisation=organisation, product=product,
                                          address=form.cleaned_data["email"])
        except DomainError as error:
            form.add_error("email", error.message)
        else:
            # The same page whether the address was new, pending or already confirmed.
            context["hours"] = setting("NOTIFICATIONS_CONFIRMATION_HOURS")
            return _private(render(request, "notifications/subscribe_requested.html", context))
    return _private(render(request, "notifications/subscribe.html", context, status=422 if form.errors else 200))


@public_view
@require_http_methods(["GET", "POST"])
def confirm_view(request, token):
    try:
        if request.method == "POST":
            subscriber = services.subscription_confirm(token=token)
            return _private(render(request, "notifications/confirmed.html", {"subscriber": subscriber}))
        subscriber = selectors.subscriber_for_confirmation_token(token=token)
    except NotFound:
        return _link_invalid(request)
    return _private(render(request, "notifications/confirm.html", {"subscriber": subscriber}))


@public_view
@csrf_exempt  # RFC 8058 one-click POST: no cookie, no session, the signed token is the authority
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token):
    try:
        if request.method == "POST":
            subscriber = services.subscription_unsubscribe(token=token)
            return _private(render(request, "notifications/unsubscribed.html", {"subscriber": subscriber}))
        subscriber = selectors.subscriber_for_unsubscribe_token(token=token)
    except NotFound:
        return _link_invalid(request)
    return _private(render(request, "notifications/unsubscribe.html", {"subscriber": subscriber}))


# --- staff --------------------------------------------------------------------------------------

def _overview(request, member, *, webhook_form=None, new_secret=None, status=200):
    can_manage = member.role in SETTINGS_ROLES
    subscribe_url = settings.SITE_URL + reverse("notifications:subscribe",
                                                kwargs={"organisation": member.organisation.slug})
    return render(request, "notifications/overview.html", {
        "member": member, "organisation": member.organisation, "nav": "notifications", "can_manage": can_manage,
        "counts": selectors.subscriber_counts(member=member), "subscribe_url": subscribe_url,
        "webhooks": selectors.webhooks_for_member(member=member) if can_manage else [],
        "webhook_form": webhook_form or WebhookForm(), "new_secret": new_secret,
        "deliveries": selectors.deliveries_for_member(member=member, limit=20),
    }, status=status)


@member_view(*TRIAGE_ROLES)
@require_GET
def notifications_view(request, member):
    return _overview(request, member)


@member_view(*SETTINGS_ROLES)
@require_POST
def webhook_create_view(request, member):
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            created = services.webhook_create(organisation=member.organisation, actor=member, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            # The secret is shown on this response only, never stored in clear or in the session.
            return _overview(request, member, new_secret=(created.webhook, created.secret))
    return _overview(request, member, webhook_form=form, status=422)


def _webhook_page(request, member, webhook, *, form=None, new_secret=None, status=200):
    form = form or WebhookEditForm(initial={"url": webhook.url, "events": webhook.events,
                                            "description": webhook.description, "is_active": webhook.is_active})
    return render(request, "notifications/webhook.html", {
        "member": member, "organisation": member.organisation, "nav": "notifications", "webhook": webhook,
        "form": form, "new_secret": new_secret,
        "deliveries": selectors.deliveries_for_member(member=member, webhook=webhook, limit=50),
    }, status=status)


@member_view(*SETTINGS_ROLES)
@require_GET
def webhook_view(request, member, webhook_id):
    return _webhook_page(request, member, selectors.webhook_for_member(member=member, webhook_id=webhook_id))


@member_view(*SETTINGS_ROLES)
@require_POST
def webhook_update_view(request, member, webhook_id):
    webhook = selectors.webhook_for_member(member=member, webhook_id=webhook_id)
    form = WebhookEditForm(request.POST)
    if form.is_valid():
        try:
            services.webhook_update(webhook=webhook, actor=member, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, f"Webhook to {webhook.host} saved.")
            return redirect(reverse("notifications:webhook", kwargs={"organisation": member.organisation.slug,
                                                                      "webhook_id": webhook.pk}))
    return _webhook_page(request, member, webhook, form=form, status=422)


@member_view(*SETTINGS_ROLES)
@require_POST
def webhook_rotate_view(request, member, webhook_id):
    webhook = selectors.webhook_for_member(member=member, webhook_id=webhook_id)
    secret = services.webhook_secret_rotate(webhook=webhook, actor=member)
    return _webhook_page(request, member, webhook, new_secret=secret)


@member_view(*SETTINGS_ROLES)
@require_POST
def webhook_delete_view(request, member, webhook_id):
    webhook = selectors.webhook_for_member(member=member, webhook_id=webhook_id)
    host = webhook.host
    services.webhook_delete(webhook=webhook, actor=member)
    flash.success(request, f"Webhook to {host} deleted.")
    return redirect(reverse("notifications:overview", kwargs={"organisation": member.organisation.slug}))


@member_view(*TRIAGE_ROLES)
@require_GET
def deliveries_view(request, member):
    status = request.GET.get("status", "")
    if status not in Delivery.Status.values:
        status = ""
    return render(request, "notifications/deliveries.html", {
        "member": member, "organisation": member.organisation, "nav": "notifications", "status": status,
        "statuses": Delivery.Status.choices,
        "deliveries": selectors.deliveries_for_member(member=member, status=status),
        "limit": selectors.DELIVERY_LOG_LIMIT,
    })


@member_view(*TRIAGE_ROLES)
@require_GET
def delivery_view(request, member, delivery_id):
    delivery = selectors.delivery_for_member(member=member, delivery_id=delivery_id)
    return render(request, "notifications/delivery.html", {
        "member": member, "organisation": member.organisation, "nav": "notifications", "delivery": delivery,
        "can_retry": member.role in SETTINGS_ROLES and delivery.status == Delivery.Status.FAILED,
    })


@member_view(*SETTINGS_ROLES)
@require_POST
def delivery_retry_view(request, member, delivery_id):
    delivery = selectors.delivery_for_member(member=member, delivery_id=delivery_id)
    try:
        services.delivery_retry(delivery=delivery, actor=member)
        flash.success(request, "The delivery was queued again.")
    except DomainError as error:
        flash.error(request, error.message)
    return redirect(reverse("notifications:delivery", kwargs={"organisation": member.organisation.slug,
                                                              "delivery_id": delivery.pk}))
