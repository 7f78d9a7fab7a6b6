"""API authentication by browser session: only for sessions that passed the second factor.
JWT (accounts.jwt) and API tokens (accounts.api_tokens) are the other two ways in."""

from rest_framework.authentication import SessionAuthentication


class VerifiedSessionAuthentication(SessionAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = request._request.user
        verified = getattr(user, "is_verified", None)
        if not (verified and verified()):
            return None  # logged in with a password only: not enough for staff data
        return result
