"""How an attachment leaves vulndesk: always as a download, never rendered (ASVS V3.2.1, V5.4)."""

from urllib.parse import quote

from django.http import StreamingHttpResponse

from vulndesk.attachments.services import attachment_chunks


def attachment_response(attachment) -> StreamingHttpResponse:
    response = StreamingHttpResponse(attachment_chunks(attachment), content_type="application/octet-stream")
    ascii_name = attachment.name.encode("ascii", "replace").decode().replace("?", "_")
    # RFC 6266: a plain ASCII fallback plus the UTF-8 name, both from our sanitised name.
    response["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(attachment.name)}"
    response["Content-Length"] = str(attachment.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "no-store"
    return response
