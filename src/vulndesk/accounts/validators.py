"""Password rules beyond Django's own (ASVS V6.1.2): no product name, no part of the e-mail."""

import re

from django.core.exceptions import ValidationError

CONTEXT_WORDS = ("vulndesk", "security", "password")


class ContextWordsValidator:
    def validate(self, password, user=None):
        lowered = password.lower()
        words = list(CONTEXT_WORDS)
        if user is not None and getattr(user, "email", ""):
            words += [part for part in re.split(r"[@.+_-]", user.email.lower()) if len(part) >= 4]
        for word in words:
            if word in lowered:
                raise ValidationError(f"The password must not contain “{word}”: it is easy to guess here.",
                                      code="password_context_word")

    def get_help_text(self):
        return "Your password must not contain the product name or parts of your e-mail address."
