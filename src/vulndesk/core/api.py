"""API plumbing shared by every app's ``api/`` package: error mapping and keyset pagination."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from vulndesk.core.errors import DomainError


def exception_handler(exc, context):
    """Domain errors become ``{"error": {"code", "message", "field"}}`` with their status."""
    if isinstance(exc, DomainError):
        body = {"error": {"code": exc.code, "message": exc.message}}
        if exc.field:
            body["error"]["field"] = exc.field
        return Response(body, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        response.data = {"error": {"code": "method_not_allowed", "message": str(exc)}}
    return response
