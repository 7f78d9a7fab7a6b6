"""Turns domain errors raised in HTML views into error pages that say what to do."""

from django.shortcuts import render

from vulndesk.core.errors import DomainError, NotFound


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError):
            return None
        template = "core/404.html" if isinstance(exception, NotFound) else "core/error.html"
        return render(request, template, {"error": exception}, status=exception.status_code)


class PrivateNoStoreMiddleware:
    """Pages and API answers for signed-in staff carry unpublished vulnerabilities: no shared
    or browser cache may keep them (ASVS V14.2.2). Public pages choose their own caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        authenticated = (user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META
        if authenticated and "Cache-Control" not in response:
            response["Cache-Control"] = "no-store, private"
        return response
