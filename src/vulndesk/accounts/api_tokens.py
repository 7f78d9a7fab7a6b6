"""Personal API tokens for CI uploads: scoped to one organisation, one product and one
permission, with an expiry; revocable; only a SHA-256 hash is stored.

Format: ``vd_<43 url-safe characters>`` (256 bits). The ``vd_`` prefix lets secret scanners
recognise a leaked token."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from vulndesk.accounts.models import ApiToken
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.core.prepared import PreparedSelect

TOKEN_PREFIX = "vd_"  # noqa: S105 (a public marker for secret scanners, not a secret)
MAX_LIFETIME_DAYS = 366


def api_token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# The product's policy comes along: a token acts on its one product, and report creation (the
# hot path of CI uploads) then needs no second query for it. No ORDER BY: the hash is unique.
# Compiled once per process (core.prepared): the SQL compiler was most of the lookup's cost.
_token_by_hash = PreparedSelect(
    lambda token_hash: ApiToken.objects.select_related("created_by", "organisation", "product__policy")
    .filter(token_hash=token_hash).order_by()[:1],
    (str,),
)


@transaction.atomic
def api_token_create(*, organisation, product, permission: str, name: str, lifetime_days: int, created_by,
                     ip_address: str | None = None) -> tuple[ApiToken, str]:
    if product.organisation_id != organisation.pk:
        raise DomainError("The product belongs to another organisation.", field="product")
    if permission not in ApiToken.Permission.values:
        raise DomainError(f"Unknown permission {permission!r}.", field="permission")
    if not 1 <= lifetime_days <= MAX_LIFETIME_DAYS:
        raise DomainError(f"A token lives 1 to {MAX_LIFETIME_DAYS} days.", field="lifetime_days")
    if not name.strip():
        raise DomainError("Name the token after where it is used, e.g. 'GitHub Actions'.", field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    token = ApiToken.objects.create(
        organisation=organisation, product=product, permission=permission, name=name.strip()[:100],
        prefix=raw[:10], token_hash=api_token_hash(raw), created_by=created_by, created_at=now,
        expires_at=now + timedelta(days=lifetime_days),
    )
    audit_record(action="api_token.create", organisation_id=organisation.pk, actor_id=created_by.pk,
                 actor_label=created_by.email, target_type="api_token", target_id=token.pk, ip_address=ip_address,
                 data={"product": product.pk, "permission": permission, "lifetime_days": lifetime_days})
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor, ip_address: str | None = None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action="api_token.revoke", organisation_id=token.organisation_id, actor_id=actor.pk,
                     actor_label=actor.email, target_type="api_token", target_id=token.pk, ip_address=ip_address)
    return token


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Token vd_…``. ``request.auth`` becomes the ApiToken; the tenant gate
    (organisations.access) turns it into a product-scoped, least-privilege membership."""

    keyword = "Token"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword:
            return None
        raw = parts[1]
        if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
            raise exceptions.AuthenticationFailed("Invalid API token.", "token_not_valid")
        token = _token_by_hash.first(api_token_hash(raw))
        now = clock.now()
        if token is None or token.revoked_at is not None or token.expires_at <= now or not token.created_by.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.", "token_not_valid")
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
            # Coarse last-use stamp: one write per token per five minutes, not per request.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.created_by, token

    def authenticate_header(self, request):
        return self.keyword
