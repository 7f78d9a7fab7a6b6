"""Staff accounts. Reporters need no account; they hold a tracking link instead (see intake)."""

import hashlib
import uuid

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django_otp.models import Device

from vulndesk.core import clock


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("A user needs an e-mail address")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractUser):
    """A person who works in vulndesk. Identified by e-mail; ``username`` is not used."""

    username = None
    first_name = None
    last_name = None
    email = models.EmailField("e-mail address", unique=True)
    name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.name or self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@")[0]


class RecoveryCodeDevice(Device):
    """Single-use recovery codes as a django-otp device, so a recovery code verifies a session
    exactly like a TOTP code does. Codes are stored as SHA-256 hashes (they are 120-bit random
    strings, so a fast hash is enough; a slow one would only slow logins)."""

    class Meta:
        verbose_name = "recovery code set"

    def verify_token(self, token) -> bool:
        digest = recovery_code_hash(str(token))
        with transaction.atomic():
            code = self.codes.select_for_update().filter(code_hash=digest, used_at__isnull=True).first()
            if code is None:
                return False
            code.used_at = clock.now()
            code.save(update_fields=["used_at"])
        return True


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)


def recovery_code_hash(code: str) -> str:
    normalised = code.strip().replace("-", "").replace(" ", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


class TokenFamily(models.Model):
    """All refresh tokens descended from one login share a family. Presenting an already
    rotated refresh token again means it was stolen (or replayed): the whole family is revoked,
    so neither the thief nor the victim can go on with it (OAuth 2.0 Security BCP, 4.14.2)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="token_families")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=100, blank=True)


class ApiToken(models.Model):
    """A personal API token for CI: one organisation, one product, one permission, an expiry.
    Only a SHA-256 hash is stored; the token is shown once when created."""

    class Permission(models.TextChoices):
        REPORT_CREATE = "report:create", "Create reports (CI upload)"
        REPORT_READ = "report:read", "Read reports"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="api_tokens")
    product = models.ForeignKey("products.Product", on_delete=models.CASCADE, related_name="api_tokens")
    permission = models.CharField(max_length=32, choices=Permission.choices)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the token in lists.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="api_tokens")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
