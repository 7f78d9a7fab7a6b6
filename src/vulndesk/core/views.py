"""Plumbing views: health check and error pages that say what to do next."""

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from vulndesk.core.public import public_view


@public_view
def health_view(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found_view(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    return render(request, "core/404.html", status=404)


def forbidden_view(request, exception=None):
    return render(request, "core/error.html", {"error": {"message": "You do not have access to this page. "
                                                          "If you think you should, ask an owner of the organisation."}},
                  status=403)


def bad_request_view(request, exception=None):
    return render(request, "core/error.html", {"error": {"message": "The request could not be understood."}}, status=400)


def server_error_view(request):
    return render(request, "core/500.html", status=500)
