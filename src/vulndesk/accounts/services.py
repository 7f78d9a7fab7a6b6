"""Writes for accounts: creating users. Password rules come from AUTH_PASSWORD_VALIDATORS."""

import secrets

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from vulndesk.accounts.models import User
from vulndesk.core.errors import Conflict


def one_time_password() -> str:
    """A readable random password (about 100 bits) for a user's first login."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


@transaction.atomic
def user_create(*, email: str, name: str = "", password: str | None = None) -> tuple[User, str]:
    """Create a user; returns the user and the password (generated when none is given)."""
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        raise Conflict(f"A user with the e-mail address {email} already exists.", field="email")
    password = password or one_time_password()
    user = User(email=email, name=name.strip())
    validate_password(password, user)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user, password


def user_for_invitation(*, email: str, name: str = "") -> User:
    """The account for ``email``, created without a usable password when there is none.

    Used when a person is added to an organisation: nobody can log in to the new account until
    the invitee chooses a password through the mailed link, and nothing is hashed here, so the
    "existing" and "new" paths take about the same time."""
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, password=None, name=name.strip())
    return user
