"""The reports API: one small view per operation, each gated by the organisation in its URL.

A user of another organisation gets 404 for every URL here, exactly as for a report that
does not exist (organisations.access)."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.core.ratelimit import client_ip
from vulndesk.organisations.access import (
    membership_for_request,
    require_role,
    sees_internal_notes,
    sees_reporter_identity,
)
from vulndesk.organisations.models import READ_ROLES, SUBMIT_ROLES, TRIAGE_ROLES, Membership
from vulndesk.organisations.selectors import members_of_organisation
from vulndesk.reports import selectors, services
from vulndesk.reports.api import serializers as s


def _member(request, organisation: str, roles) -> Membership:
    member = membership_for_request(request, organisation_slug=organisation)
    require_role(member, roles)
    return member


def _valid(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _detail(report, member: Membership, *, tracking_token: str | None = None,
            code=status.HTTP_200_OK) -> Response:
    context = {"now": clock.now(), "reminder_fraction_percent": report.product.policy.reminder_fraction_percent}
    out = s.ReportDetailOutput(report, context=context).data
    if not sees_reporter_identity(member):
        # ASVS V8.2.3: who reported is for the coordinators (triage roles), not every reader.
        out.update(reporter_name="", reporter_email="", reporter_handle="")
    if tracking_token:
        out["tracking_url"] = _tracking_url(tracking_token)
    return Response(out, status=code)


# Error answers, documented so clients (and schemathesis) know every status an operation gives.
# Domain errors (core.api.exception_handler) are {"error": {...}}; DRF's own input checks are
# {field: [messages]}; authentication, parse and throttling errors are DRF's {"detail": ...}.
_DOMAIN_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}},
}
_FIELD_ERRORS = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
_DETAIL = {"type": "object", "required": ["detail"],
           "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}}
ERRORS = {
    400: OpenApiResponse({"oneOf": [_DOMAIN_ERROR, _FIELD_ERRORS, _DETAIL]},
                         "Invalid input: a field, a filter, or a rule such as an invalid CVSS vector."),
    401: OpenApiResponse(_DETAIL, "No credentials, or invalid, expired or revoked ones."),
    403: OpenApiResponse({"oneOf": [_DOMAIN_ERROR, _DETAIL]}, "Your role does not allow this action."),
    404: OpenApiResponse(_DOMAIN_ERROR, "No such organisation or report, or not visible to you: the two are "
                                        "never told apart."),
    429: OpenApiResponse(_DETAIL, "Too many requests; retry after the Retry-After header's seconds."),
}
# Path parameters as the URL converters accept them: anything else never reaches these views.
ORGANISATION = OpenApiParameter("organisation", {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
                                OpenApiParameter.PATH, description="Organisation slug.")
NUMBER = OpenApiParameter("number", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH,
                          description="Report number within the organisation (ACME-42 is 42).")
CONFLICT = {409: OpenApiResponse(_DOMAIN_ERROR, "The report's state does not allow this transition.")}


QUEUE_PARAMETERS = [
    OpenApiParameter("state", str, description="A report state, 'open' (default) or 'all'."),
    OpenApiParameter("severity", str, enum=["critical", "high", "medium", "low", "none"]),
    OpenApiParameter("product", str, description="Product slug."),
    OpenApiParameter("assignee", str, description="User id, or 'none'."),
    OpenApiParameter("overdue", bool),
    OpenApiParameter("unsupported", bool, description="Only reports on unsupported versions."),
    OpenApiParameter("q", str, description="Text in the title, or a reference such as ACME-42."),
    OpenApiParameter("cursor", str, description="next_cursor from the previous page."),
    OpenApiParameter("limit", int, description="Page size, 1-200 (default 50)."),
]


class ReportListCreateApi(APIView):
    @extend_schema(parameters=[ORGANISATION, *QUEUE_PARAMETERS], responses={200: s.ReportPageOutput, **ERRORS},
                   operation_id="reports_list")
    def get(self, request, organisation):
        member = _member(request, organisation, READ_ROLES)
        filters = selectors.QueueFilters.from_params(request.query_params)
        try:
            limit = int(request.query_params.get("limit", selectors.QUEUE_PAGE_SIZE))
        except ValueError:
            raise DomainError("limit must be a whole number from 1 to 200.", field="limit") from None
        if not 1 <= limit <= selectors.QUEUE_MAX_PAGE_SIZE:
            raise DomainError("limit must be a whole number from 1 to 200.", field="limit")
        page = selectors.reports_for_queue(
            member=member, filters=filters, cursor=request.query_params.get("cursor", ""), limit=limit
        )
        context = {"now": clock.now()}
        return Response({
            "results": s.ReportOutput(page.reports, many=True, context=context).data,
            "next_cursor": page.next_cursor,
        })

    @extend_schema(parameters=[ORGANISATION], request=s.ReportCreateInput,
                   responses={201: s.ReportCreatedOutput, **ERRORS}, operation_id="reports_create")
    def post(self, request, organisation):
        member = _member(request, organisation, SUBMIT_ROLES)
        data = _valid(s.ReportCreateInput, request)
        product = selectors.product_for_submission(member=member, product_slug=data.pop("product"))
        created = services.report_create(product=product, actor=member, **data)
        return _detail(created.report, member, tracking_token=created.tracking_token, code=status.HTTP_201_CREATED)


TOO_LARGE = {413: OpenApiResponse(_DOMAIN_ERROR, "The request body is larger than a batch may be.")}
_MESSAGES = {"type": "array", "items": {"type": "string"}}
# A batch's field errors: the product's, and the refused reports' by position ("3": {"title":
# [...]}; reports that were fine are left out), or one list of messages for the whole list
# ("non_field_errors": not a list, empty, too long). DRF's dictionary format for list errors.
_BATCH_FIELD_ERRORS = {
    "type": "object", "additionalProperties": _MESSAGES,
    "properties": {"reports": {"type": "object", "additionalProperties": {"oneOf": [
        _MESSAGES, {"type": "object", "additionalProperties": _MESSAGES}]}}},
}
BATCH_ERRORS = ERRORS | {400: OpenApiResponse(
    {"oneOf": [_DOMAIN_ERROR, _BATCH_FIELD_ERRORS, _DETAIL]},
    "Invalid input: nothing was filed. Field errors list each refused report by its position.")}
BATCH_MAX_BYTES = 8 * 1024 * 1024  # 100 typical scanner findings are well under 1 MB


class BatchTooLarge(DomainError):
    status_code = 413
    code = "too_large"


def _tracking_url(token: str) -> str:
    return settings.SITE_URL + reverse("intake:tracking", kwargs={"token": token})


class ReportBatchCreateApi(APIView):
    """Many reports of one product in one request (scanners, imports): all or none."""

    @extend_schema(
        parameters=[ORGANISATION], request=s.ReportBatchInput,
        responses={201: s.ReportBatchOutput, **BATCH_ERRORS, **TOO_LARGE}, operation_id="reports_batch_create",
        description=(
            f"File 1 to {s.BATCH_MAX_REPORTS} reports of one product in one transaction. Each report is checked on "
            "its own and gets what a single create gives it (number, SLA deadlines, acknowledgement, timeline, "
            "audit entry, tracking link). If any report is refused, none is filed and the 400 answer lists the "
            "refused reports by position: `{\"reports\": {\"3\": {\"title\": [\"…\"]}}}`."
        ),
    )
    def post(self, request, organisation):
        member = _member(request, organisation, SUBMIT_ROLES)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > BATCH_MAX_BYTES:  # refused before the body is read or parsed
            raise BatchTooLarge(f"A batch is at most {BATCH_MAX_BYTES // (1024 * 1024)} MB; send fewer reports per "
                                "request.", field="reports")
        data = _valid(s.ReportBatchInput, request)
        product = selectors.product_for_submission(member=member, product_slug=data["product"])
        try:
            created = services.reports_create(
                product=product, actor=member,
                submissions=[services.ReportSubmission(**item) for item in data["reports"]],
            )
        except services.BatchInvalid as invalid:
            # The same shape as the input checks' errors: refused reports by position.
            raise ValidationError({"reports": {
                str(index): {error.field or "non_field_errors": [error.message]}
                for index, error in invalid.errors.items()
            }}) from None
        results = [
            {"reference": c.report.reference, "number": c.report.number, "state": c.report.state,
             "severity": c.report.severity, "received_at": c.report.received_at,
             "next_deadline": c.report.next_deadline, "tracking_url": _tracking_url(c.tracking_token)}
            for c in created
        ]
        return Response(s.ReportBatchOutput({"results": results}).data, status=status.HTTP_201_CREATED)


class ReportDetailApi(APIView):
    @extend_schema(parameters=[ORGANISATION, NUMBER], responses={200: s.ReportDetailOutput, **ERRORS},
                   operation_id="reports_retrieve")
    def get(self, request, organisation, number):
        member = _member(request, organisation, READ_ROLES)
        report = selectors.report_for_member(member=member, number=number)
        services.report_read_record(report=report, actor=member, ip_address=client_ip(request))
        return _detail(report, member)


class ReportTransitionApi(APIView):
    @extend_schema(parameters=[ORGANISATION, NUMBER], request=s.TransitionInput,
                   responses={200: s.ReportDetailOutput, **ERRORS, **CONFLICT}, operation_id="reports_transition")
    def post(self, request, organisation, number):
        member = _member(request, organisation, TRIAGE_ROLES)
        report = selectors.report_for_member(member=member, number=number)
        data = _valid(s.TransitionInput, request)
        original = None
        if data.get("duplicate_of"):
            original = selectors.report_for_member(member=member, number=data["duplicate_of"])
        services.report_transition(
            report=report, actor=member, to=data["to"], cvss_vector=data.get("cvss_vector", ""),
            severity=data.get("severity", ""), reason=data.get("reason", ""), duplicate_of=original,
        )
        return _detail(selectors.report_for_member(member=member, number=number), member)


class ReportSeverityApi(APIView):
    @extend_schema(parameters=[ORGANISATION, NUMBER], request=s.SeverityInput,
                   responses={200: s.ReportDetailOutput, **ERRORS}, operation_id="reports_severity")
    def post(self, request, organisation, number):
        member = _member(request, organisation, TRIAGE_ROLES)
        report = selectors.report_for_member(member=member, number=number)
        data = _valid(s.SeverityInput, request)
        services.report_severity_change(
            report=report, actor=member, cvss_vector=data.get("cvss_vector", ""),
            severity=data.get("severity", ""), reason=data.get("reason", ""),
        )
        return _detail(selectors.report_for_member(member=member, number=number), member)


class ReportAssigneeApi(APIView):
    @extend_schema(parameters=[ORGANISATION, NUMBER], request=s.AssigneeInput,
                   responses={200: s.ReportDetailOutput, **ERRORS}, operation_id="reports_assign")
    def post(self, request, organisation, number):
        member = _member(request, organisation, TRIAGE_ROLES)
        report = selectors.report_for_member(member=member, number=number)
        data = _valid(s.AssigneeInput, request)
        assignee = None
        if data["assignee"] is not None:
            assignee = next((m.user for m in members_of_organisation(member=member) if m.user_id == data["assignee"]),
                            None)
            if assignee is None:
                raise DomainError("The assignee must be a member of this organisation.", field="assignee")
        services.report_assign(report=report, actor=member, assignee=assignee)
        return _detail(selectors.report_for_member(member=member, number=number), member)


class ReportTimelineApi(APIView):
    @extend_schema(parameters=[ORGANISATION, NUMBER], responses={200: s.TimelineEventOutput(many=True), **ERRORS},
                   operation_id="reports_timeline")
    def get(self, request, organisation, number):
        member = _member(request, organisation, READ_ROLES)
        report = selectors.report_for_member(member=member, number=number)
        return Response(s.TimelineEventOutput(selectors.timeline_for_report(report=report), many=True).data)


class ReportMessagesApi(APIView):
    @extend_schema(parameters=[ORGANISATION, NUMBER], responses={200: s.MessageOutput(many=True), **ERRORS},
                   operation_id="reports_messages_list")
    def get(self, request, organisation, number):
        member = _member(request, organisation, READ_ROLES)
        report = selectors.report_for_member(member=member, number=number)
        messages = selectors.messages_for_report(report=report, include_internal=sees_internal_notes(member))
        return Response(s.MessageOutput(messages, many=True).data)

    @extend_schema(parameters=[ORGANISATION, NUMBER], request=s.MessageInput,
                   responses={201: s.MessageOutput, **ERRORS}, operation_id="reports_messages_create")
    def post(self, request, organisation, number):
        member = _member(request, organisation, READ_ROLES - {"viewer"})
        report = selectors.report_for_member(member=member, number=number)
        data = _valid(s.MessageInput, request)
        message = services.message_post(report=report, actor=member, body=data["body"], is_internal=data["is_internal"])
        return Response(s.MessageOutput(message).data, status=status.HTTP_201_CREATED)
