"""JWT access and refresh tokens with rotation and reuse detection (SimpleJWT underneath).

* Obtaining tokens needs the password *and* a TOTP or recovery code: a token is a verified
  staff session, as the web login is.
* Every refresh rotates: the presented refresh token is blacklisted and a new pair is issued
  in the same *family* (a claim carried by both tokens).
* Presenting a refresh token that was already rotated revokes its whole family at once.
* Every request checks that the family is not revoked, so logout and reuse take effect
  immediately for access tokens too, not only when they expire.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django_otp import match_token
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from vulndesk.accounts.models import TokenFamily, User
from vulndesk.audit.services import audit_record
from vulndesk.core import clock

logger = logging.getLogger(__name__)
FAMILY_CLAIM = "family"


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = "E-mail, password or one-time code is not valid."
    default_code = "invalid_credentials"


def _issue(user: User, family: TokenFamily) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    refresh[FAMILY_CLAIM] = str(family.pk)
    access = refresh.access_token  # copies the family claim
    return {"access": str(access), "refresh": str(refresh)}


def tokens_obtain(*, request, email: str, password: str, otp_code: str) -> dict[str, str]:
    # Deliberately not one transaction: a refusal must keep what the failure wrote (django-axes'
    # failure count, django-otp's throttle, the audit entry), or guessing would cost nothing.
    # authenticate() with the request lets django-axes count failures and lock out.
    user = authenticate(request=request, username=email, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials
    if match_token(user, (otp_code or "").strip()) is None:
        audit_record(action="auth.token_otp_failed", actor_id=user.pk, actor_label=user.email,
                     ip_address=request.META.get("REMOTE_ADDR"))
        raise InvalidCredentials
    with transaction.atomic():
        family = TokenFamily.objects.create(user=user, created_at=clock.now())
        audit_record(action="auth.token_obtain", actor_id=user.pk, actor_label=user.email,
                     target_type="token_family", target_id=family.pk, ip_address=request.META.get("REMOTE_ADDR"))
        return _issue(user, family)


def token_family_revoke(*, family: TokenFamily, reason: str, ip_address: str | None = None) -> None:
    if family.revoked_at is None:
        family.revoked_at, family.revoked_reason = clock.now(), reason
        family.save(update_fields=["revoked_at", "revoked_reason"])
        audit_record(action="auth.token_family_revoke", actor_id=family.user_id, target_type="token_family",
                     target_id=family.pk, ip_address=ip_address, data={"reason": reason})


def _decoded_refresh(raw: str) -> dict:
    from rest_framework_simplejwt.state import token_backend

    try:
        payload = token_backend.decode(raw, verify=True)  # signature and expiry, not the blacklist
    except TokenBackendError:
        raise exceptions.AuthenticationFailed("The refresh token is invalid or expired.", "token_not_valid") from None
    if payload.get(api_settings.TOKEN_TYPE_CLAIM) != "refresh" or FAMILY_CLAIM not in payload:
        raise exceptions.AuthenticationFailed("The refresh token is invalid or expired.", "token_not_valid")
    return payload


def tokens_refresh(*, raw_refresh: str, ip_address: str | None = None) -> dict[str, str]:
    payload = _decoded_refresh(raw_refresh)
    with transaction.atomic():
        # Lock the family so two refreshes racing with one token cannot both succeed.
        family = (TokenFamily.objects.select_for_update().select_related("user")
                  .filter(pk=payload[FAMILY_CLAIM]).first())
        if family is None or family.revoked_at is not None or not family.user.is_active:
            raise exceptions.AuthenticationFailed("This session was ended; log in again.", "token_revoked")
        too_old = clock.now() - family.created_at > timedelta(hours=settings.JWT_SESSION_MAX_HOURS)
        if too_old:
            token_family_revoke(family=family, reason="session reached its maximum age", ip_address=ip_address)
        elif not BlacklistedToken.objects.filter(token__jti=payload[api_settings.JTI_CLAIM]).exists():
            try:
                RefreshToken(raw_refresh).blacklist()
            except TokenError:
                raise exceptions.AuthenticationFailed("The refresh token is invalid or expired.",
                                                      "token_not_valid") from None
            return _issue(family.user, family)
        else:
            token_family_revoke(family=family, reason="refresh token reused", ip_address=ip_address)
    # Refused only after the revocation committed: raising inside the transaction rolled it back.
    if too_old:
        raise exceptions.AuthenticationFailed("This login is older than its maximum age; log in again.",
                                              "token_expired")
    logger.warning("refresh token reuse detected; family %s revoked", family.pk)
    raise exceptions.AuthenticationFailed(
        "This refresh token was already used. All sessions from that login were ended; log in again.",
        "token_reused",
    )


@transaction.atomic
def tokens_logout(*, raw_refresh: str, ip_address: str | None = None) -> None:
    payload = _decoded_refresh(raw_refresh)
    family = TokenFamily.objects.select_for_update().filter(pk=payload[FAMILY_CLAIM]).first()
    if family is not None:
        token_family_revoke(family=family, reason="logout", ip_address=ip_address)


class FamilyJWTAuthentication(JWTAuthentication):
    """SimpleJWT's bearer authentication plus the family check on every request."""

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        family_id = token.get(FAMILY_CLAIM)
        if not family_id:
            raise exceptions.AuthenticationFailed("Token has no session family.", "token_not_valid")
        # The family row brings its user along: one query per request for both checks.
        family = TokenFamily.objects.select_related("user").filter(pk=family_id).first()
        if family is None or family.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This session was ended; log in again.", "token_revoked")
        token.family_user = family.user
        return token

    def get_user(self, validated_token):
        user = getattr(validated_token, "family_user", None)
        if user is None:
            return super().get_user(validated_token)
        if str(user.pk) != str(validated_token.get(api_settings.USER_ID_CLAIM)):
            # Only a holder of the signing key could make this; a login's tokens name its own user.
            raise exceptions.AuthenticationFailed("This session was ended; log in again.", "token_revoked")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive", code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN:
            return super().get_user(validated_token)  # compares the password hash claim; keep its rule
        return user
