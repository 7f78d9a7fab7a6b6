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
