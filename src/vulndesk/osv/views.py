"""The OSV-compatible API (https://google.github.io/osv.dev/api/): ``GET vulns/<id>``,
``POST query``, ``POST querybatch``. Public and anonymous (CORS open for /api/osv/ in settings),
rate limited per IP; only published advisories are ever returned."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from vulndesk.core.public import public_view
from vulndesk.osv import selectors
from vulndesk.osv import serializers as s
from vulndesk.osv.queries import queries_from_json, query_from_json
from vulndesk.osv.throttling import OsvRateThrottle

_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
              "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}}}
_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}}
_BAD_INPUT = OpenApiResponse({"oneOf": [_ERROR, _DETAIL]},
                             "Malformed input: not JSON, unknown ecosystem, a version that is not valid in the "
                             "ecosystem, a bad commit hash, or more than 1,000 queries. The message names the "
                             "query and field.")
_THROTTLED = OpenApiResponse(_DETAIL, "Too many requests from this address; retry after Retry-After seconds.")


def _json(text: str) -> HttpResponse:
    # The documents are stored JSON text: spliced in as they are, never decoded and re-encoded.
    return HttpResponse(text.encode(), content_type="application/json")


class OsvJSONParser(JSONParser):
    """JSON, where a body nested too deeply for Python's decoder is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class _OsvApi(APIView):
    authentication_classes: list = []
    parser_classes = [OsvJSONParser]
    permission_classes = [AllowAny]
    throttle_classes = [OsvRateThrottle]
    throttle_scope = "osv"


@public_view
class OsvVulnerabilityApi(_OsvApi):
    @extend_schema(
        operation_id="osv_vulnerability", tags=["OSV"],
        summary="One vulnerability as an OSV document",
        description="By our id (`x_ACME-2026-0001`), our identifier (`ACME-2026-0001`) or a CVE/GHSA alias. "
                    "A withdrawn advisory is still returned, with `withdrawn` set.",
        parameters=[OpenApiParameter("vuln_id", str, OpenApiParameter.PATH)],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, "The OSV document of the latest published revision."),
                   404: OpenApiResponse(_ERROR, "No published advisory has this id or alias."),
                   429: _THROTTLED},
    )
    def get(self, request, vuln_id: str):
        return _json(selectors.vulnerability_json(identifier=vuln_id))


@public_view
class OsvQueryApi(_OsvApi):
    @extend_schema(
        operation_id="osv_query", tags=["OSV"],
        summary="Vulnerabilities affecting a package version or a commit",
        description='`{"package": {"ecosystem": "PyPI", "name": "django"}, "version": "4.2.1"}` or '
                    '`{"commit": "<hash>"}`. Without `version`, every advisory of the package. Withdrawn '
                    "advisories are not returned.",
        request=s.QueryInput,
        responses={200: s.VulnerabilityListOutput, 400: _BAD_INPUT, 429: _THROTTLED},
    )
    def post(self, request):
        documents = selectors.vulnerabilities_for_query(query=query_from_json(request.data))
        return _json('{"vulns": [' + ", ".join(documents) + "]}")


@public_view
class OsvQueryBatchApi(_OsvApi):
    @extend_schema(
        operation_id="osv_querybatch", tags=["OSV"],
        summary="Up to 1,000 queries at once",
        description="Each result lists the `id` and `modified` of the matching vulnerabilities; fetch the "
                    "documents with `GET vulns/{id}`.",
        request=s.QueryBatchInput,
        responses={200: s.QueryBatchOutput, 400: _BAD_INPUT, 429: _THROTTLED},
    )
    def post(self, request):
        queries = queries_from_json(request.data)
        results = selectors.vulnerabilities_for_queries(queries=queries)
        return Response({"results": [{"vulns": vulns} for vulns in results]})
