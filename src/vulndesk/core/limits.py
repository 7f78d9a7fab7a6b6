"""Refuse oversized request bodies before Django reads them (ASVS V5.2.1)."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_MAX_BYTES:
            limit_mb = settings.REQUEST_MAX_BYTES // (1024 * 1024)
            if request.path.startswith("/api/"):
                return JsonResponse({"error": {"code": "too_large", "message": f"The request is larger than {limit_mb} MB."}},
                                    status=413)
            return render(request, "core/error.html", {"error": {"message": (
                f"What you sent is larger than {limit_mb} MB, so it was not accepted. Attach fewer or smaller files "
                f"(at most {settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB each).")}}, status=413)
        return self.get_response(request)
