"""Files sent with the public report form: checked by content before anything is filed."""

from django.core.files.uploadedfile import SimpleUploadedFile

from vulndesk.attachments.models import Attachment
from vulndesk.reports.models import Report


def _post(client, organisation, product, **files):
    data = {"title": "Path traversal in export", "description": "GET /export?file=../../etc/passwd",
            "steps_to_reproduce": "1. log in\n2. open the URL"}
    return client.post(f"/p/{organisation.slug}/{product.slug}/report/", {**data, **files})


def test_a_report_with_files_is_filed_with_its_attachments(client, organisation, product):
    response = _post(client, organisation, product, attachments=[
        SimpleUploadedFile("request.txt", b"GET /export?file=../../etc/passwd HTTP/1.1\n"),
        SimpleUploadedFile("../../../evil.log", b"log line\n"),
    ])
    assert response.status_code == 302
    report = Report.objects.get()
    attachments = list(Attachment.objects.filter(report=report))
    assert len(attachments) == 2 and all(a.is_from_reporter for a in attachments)
    page = client.get(response["Location"]).content.decode()
    assert "request.txt" in page and "evil.log" in page and "../" not in page.split("Attachments")[1].split("</ul>")[0]


def test_a_refused_file_files_nothing_and_keeps_the_text(client, organisation, product):
    response = _post(client, organisation, product,
                     attachments=[SimpleUploadedFile("screenshot.png", b"MZ\x90\x00" + b"\x00" * 200)])
    assert response.status_code == 422
    page = response.content.decode()
    assert "Windows executable" in page and "choose the files again" in page
    assert "Path traversal in export" in page  # what the reporter typed is still there
    assert not Report.objects.exists() and not Attachment.objects.exists()


def test_an_html_file_is_refused(client, organisation, product):
    response = _post(client, organisation, product,
                     attachments=[SimpleUploadedFile("notes.txt", b"<html><script>alert(1)</script></html>")])
    assert response.status_code == 422
    assert "HTML, SVG and XML documents cannot be uploaded" in response.content.decode()
    assert not Report.objects.exists()


def test_too_many_files_are_refused(client, organisation, product, settings):
    settings.ATTACHMENT_MAX_FILES_PER_REQUEST = 2
    files = [SimpleUploadedFile(f"f{i}.txt", b"x\n") for i in range(3)]
    response = _post(client, organisation, product, attachments=files)
    assert response.status_code == 422
    assert "at most 2 files" in response.content.decode()
    assert not Report.objects.exists()


def test_the_form_states_the_limits_before_upload(client, organisation, product):
    page = client.get(f"/p/{organisation.slug}/{product.slug}/report/").content.decode()
    assert 'enctype="multipart/form-data"' in page
    assert "25 MB" in page and "executables are refused" in page
