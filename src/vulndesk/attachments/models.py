"""Files attached to reports. The file itself is stored encrypted outside any served folder
under a random name; the original filename is kept only sealed."""

from django.conf import settings
from django.db import models

from vulndesk.organisations.models import Organisation
from vulndesk.reports.models import Report


class Attachment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="attachments")
    storage_key = models.CharField(max_length=64, unique=True)
    key_version = models.PositiveIntegerField()
    sealed_name = models.TextField()
    kind = models.CharField(max_length=16)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    is_from_reporter = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["report", "created_at"], name="attachment_by_report")]
