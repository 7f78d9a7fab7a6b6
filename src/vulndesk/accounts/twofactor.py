"""Two-factor authentication for staff: TOTP (django-otp) plus single-use recovery codes.

Every staff user must have a confirmed TOTP device and a verified session before any report is
shown (``organisations.access`` checks ``user.is_verified()``). Enrolment: start an unconfirmed
device, show its otpauth URI as a QR code, confirm with one valid code; recovery codes are
generated then and shown once.
"""

import base64
import secrets

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from vulndesk.accounts.models import RecoveryCode, RecoveryCodeDevice, User, recovery_code_hash
from vulndesk.audit.services import audit_record
from vulndesk.core.errors import DomainError

RECOVERY_CODE_COUNT = 10


def totp_confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


@transaction.atomic
def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """The user's pending (unconfirmed) device, created if missing. Re-showing the same secret
    on reload keeps an app that already scanned it working."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def totp_qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth URI as an SVG QR code in a data: URI (allowed by our CSP's img-src)."""
    svg = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def totp_secret_text(device: TOTPDevice) -> str:
    """The base32 secret, grouped in fours, for people who type it instead of scanning."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def totp_enrolment_confirm(*, user: User, device: TOTPDevice, code: str, ip_address: str | None = None) -> list[str]:
    """Confirm the device with a valid code; returns fresh recovery codes (shown once)."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or not device.verify_token(code):
        raise DomainError("That code is not valid. Check the time on your phone and try the current code.", field="code")
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = recovery_codes_regenerate(user=user)
    audit_record(action="2fa.enable", actor_id=user.pk, actor_label=user.email, target_type="user",
                 target_id=user.pk, ip_address=ip_address)
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User, ip_address: str | None = None) -> list[str]:
    device, _ = RecoveryCodeDevice.objects.get_or_create(user=user, defaults={"name": "Recovery codes", "confirmed": True})
    device.codes.all().delete()
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(RecoveryCode(device=device, code_hash=recovery_code_hash(c)) for c in codes)
    audit_record(action="2fa.recovery_codes", actor_id=user.pk, actor_label=user.email, target_type="user",
                 target_id=user.pk, ip_address=ip_address)
    return codes


def _recovery_code() -> str:
    """120 random bits in base32, grouped: stored as plain SHA-256, so at least 112 bits are
    needed for an offline guess to be hopeless (ASVS V6.5.2)."""
    text = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def recovery_codes_left(*, user: User) -> int:
    return RecoveryCode.objects.filter(device__user=user, used_at__isnull=True).count()


def issuer_name() -> str:
    return getattr(settings, "OTP_TOTP_ISSUER", "vulndesk")
