from django import forms
from django.conf import settings


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Zero or more files; each is checked by content later, in attachments.services."""

    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if len(files) > settings.ATTACHMENT_MAX_FILES_PER_REQUEST:
            raise forms.ValidationError(f"Attach at most {settings.ATTACHMENT_MAX_FILES_PER_REQUEST} files at once.")
        cleaned = [super(AttachmentsField, self).clean(item, initial) for item in files]
        for item in cleaned:
            if item.size > settings.ATTACHMENT_MAX_BYTES:
                raise forms.ValidationError(
                    f"{item.name[:100]} is larger than {settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB.")
        return cleaned


def attachments_help() -> str:
    return (f"Up to {settings.ATTACHMENT_MAX_FILES_PER_REQUEST} files, {settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB "
            "each: text, logs, PNG, JPEG, GIF, WebP, PDF, ZIP, tar.gz or packet captures. HTML, SVG and "
            "executables are refused.")


class AttachmentUploadForm(forms.Form):
    attachments = AttachmentsField(required=True, label="Attach files")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"].help_text = attachments_help()
