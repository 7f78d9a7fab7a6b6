"""Attachments end to end: upload through the staff page and the tracking page, stored
encrypted under a random name, downloaded only by the right people, with safe headers."""

import io
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories.core import make_member, make_organisation, make_product, make_report, verified_login
from vulndesk.attachments.models import Attachment
from vulndesk.audit.models import AuditEntry

SECRET_POC = b"curl -d 'q=1 UNION SELECT password FROM users' https://target/search  # VERY-SECRET-POC\n"


def _upload_url(member, number):
    return reverse("attachments:upload", kwargs={"organisation": member.organisation.slug, "number": number})


def test_staff_upload_is_stored_encrypted_under_a_random_name(staff_client, triager, settings):
    report = make_report(make_product(triager.organisation)).report
    response = staff_client.post(_upload_url(triager, report.number),
                                 {"attachments": SimpleUploadedFile("../../poc.sh.txt", SECRET_POC)})
    assert response.status_code == 302
    attachment = Attachment.objects.get(report=report)
    stored = list(Path(settings.ATTACHMENT_ROOT).rglob("*"))
    files = [p for p in stored if p.is_file()]
    assert [p.name for p in files] == [attachment.storage_key]
    raw = files[0].read_bytes()
    assert b"VERY-SECRET-POC" not in raw and b"UNION SELECT" not in raw
    assert "poc" not in attachment.sealed_name
    assert AuditEntry.objects.filter(action="attachment.add", target_id=str(report.pk)).exists()


def test_download_is_an_attachment_with_nosniff_and_a_sandbox(staff_client, triager):
    report = make_report(make_product(triager.organisation)).report
    staff_client.post(_upload_url(triager, report.number),
                      {"attachments": SimpleUploadedFile("../../evil\"name.txt", SECRET_POC)})
    attachment = Attachment.objects.get(report=report)
    response = staff_client.get(reverse("attachments:download", kwargs={
        "organisation": triager.organisation.slug, "number": report.number, "attachment_id": attachment.pk}))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SECRET_POC
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert response["Content-Disposition"].startswith('attachment; filename="evil_name.txt"')
    assert AuditEntry.objects.filter(action="attachment.download").exists()


def test_refused_upload_says_why_and_stores_nothing(staff_client, triager, settings):
    report = make_report(make_product(triager.organisation)).report
    response = staff_client.post(_upload_url(triager, report.number),
                                 {"attachments": SimpleUploadedFile("photo.png", b"MZ" + b"\x00" * 100)}, follow=True)
    assert "executable" in response.content.decode()
    assert not Attachment.objects.exists()
    assert not [p for p in Path(settings.ATTACHMENT_ROOT).rglob("*") if p.is_file()] if Path(settings.ATTACHMENT_ROOT).exists() else True


def test_one_bad_file_in_a_batch_stores_none_of_them(staff_client, triager):
    report = make_report(make_product(triager.organisation)).report
    staff_client.post(_upload_url(triager, report.number), {"attachments": [
        SimpleUploadedFile("ok.txt", b"fine\n"), SimpleUploadedFile("page.html", b"<html><script>x</script></html>"),
    ]})
    assert not Attachment.objects.exists()


def test_member_of_another_organisation_gets_404_for_upload_and_download(client, triager):
    report = make_report(make_product(triager.organisation)).report
    verified_login(client, triager.user)
    client.post(_upload_url(triager, report.number), {"attachments": SimpleUploadedFile("a.txt", b"hello\n")})
    attachment = Attachment.objects.get()
    outsider = make_member(make_organisation(), role="owner")
    verified_login(client, outsider.user)
    download = reverse("attachments:download", kwargs={
        "organisation": triager.organisation.slug, "number": report.number, "attachment_id": attachment.pk})
    assert client.get(download).status_code == 404
    assert client.post(_upload_url(triager, report.number),
                       {"attachments": SimpleUploadedFile("b.txt", b"x\n")}).status_code == 404
    # Their own organisation slug with the other tenant's attachment id: still nothing.
    own = reverse("attachments:download", kwargs={
        "organisation": outsider.organisation.slug, "number": report.number, "attachment_id": attachment.pk})
    assert client.get(own).status_code == 404


def test_reporter_uploads_and_downloads_through_the_tracking_link(client, db):
    created = make_report()
    token = created.tracking_token
    response = client.post(reverse("attachments:tracking_upload", kwargs={"token": token}),
                           {"attachments": SimpleUploadedFile("trace.txt", b"stack trace\n")})
    assert response.status_code == 302
    assert response["Referrer-Policy"] == "no-referrer"
    attachment = Attachment.objects.get(report=created.report)
    assert attachment.is_from_reporter
    download = client.get(reverse("attachments:tracking_download", kwargs={"token": token, "attachment_id": attachment.pk}))
    assert b"".join(download.streaming_content) == b"stack trace\n"
    wrong = client.get(reverse("attachments:tracking_download", kwargs={"token": "x" * 43, "attachment_id": attachment.pk}))
    assert wrong.status_code == 404


def test_another_reports_tracking_link_cannot_download_this_attachment(client, db):
    first, second = make_report(), make_report()
    client.post(reverse("attachments:tracking_upload", kwargs={"token": first.tracking_token}),
                {"attachments": SimpleUploadedFile("a.txt", b"mine\n")})
    attachment = Attachment.objects.get()
    response = client.get(reverse("attachments:tracking_download",
                                  kwargs={"token": second.tracking_token, "attachment_id": attachment.pk}))
    assert response.status_code == 404


def test_an_oversized_request_is_refused_before_it_is_read(staff_client, triager, settings):
    settings.REQUEST_MAX_BYTES = 10_000
    report = make_report(make_product(triager.organisation)).report
    response = staff_client.post(_upload_url(triager, report.number),
                                 {"attachments": SimpleUploadedFile("big.txt", b"a" * 20_000)})
    assert response.status_code == 413
    assert "larger than" in response.content.decode()
    assert not Attachment.objects.exists()


def test_a_large_file_round_trips_in_chunks(staff_client, triager):
    report = make_report(make_product(triager.organisation)).report
    payload = (b"0123456789abcdef" * 65536) * 3 + b"tail"  # a little over 3 MiB: four chunks
    staff_client.post(_upload_url(triager, report.number),
                      {"attachments": SimpleUploadedFile("dump.txt", payload)})
    attachment = Attachment.objects.get()
    response = staff_client.get(reverse("attachments:download", kwargs={
        "organisation": triager.organisation.slug, "number": report.number, "attachment_id": attachment.pk}))
    chunks = list(response.streaming_content)
    assert len(chunks) == 4
    assert b"".join(chunks) == payload


def test_a_truncated_stored_file_fails_to_decrypt(staff_client, triager, settings):
    import pytest

    from vulndesk.attachments.services import attachment_chunks
    from vulndesk.core.crypto import DecryptionFailed

    report = make_report(make_product(triager.organisation)).report
    payload = b"x" * (2 * 1024 * 1024 + 10)
    staff_client.post(_upload_url(triager, report.number), {"attachments": SimpleUploadedFile("a.txt", payload)})
    attachment = Attachment.objects.get()
    path = next(p for p in Path(settings.ATTACHMENT_ROOT).rglob(attachment.storage_key))
    data = path.read_bytes()
    first_record = 4 + int.from_bytes(data[:4], "big")
    path.write_bytes(data[: first_record * 2])  # drop the last chunk
    with pytest.raises(DecryptionFailed):
        list(attachment_chunks(attachment))


def test_images_are_stored_reencoded(staff_client, triager):
    from PIL import Image

    report = make_report(make_product(triager.organisation)).report
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    staff_client.post(_upload_url(triager, report.number),
                      {"attachments": SimpleUploadedFile("shot.png", buffer.getvalue() + b"trailing-junk")})
    attachment = Attachment.objects.get()
    assert attachment.kind == "png"
    response = staff_client.get(reverse("attachments:download", kwargs={
        "organisation": triager.organisation.slug, "number": report.number, "attachment_id": attachment.pk}))
    assert b"trailing-junk" not in b"".join(response.streaming_content)
