"""Domain errors raised by services and selectors, mapped to HTTP once per side.

HTML views go through ``core.middleware.DomainErrorMiddleware``; the API through
``core.api.exception_handler``. Services never build responses.
"""


class DomainError(Exception):
    """A rule of the domain refused the request. The message is safe to show to the user."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str = "", *, field: str | None = None):
        super().__init__(message or self.default_message())
        self.message = message or self.default_message()
        self.field = field

    def default_message(self) -> str:
        return "The request was refused."


class NotFound(DomainError):
    """No such object, *or* not visible to this actor: the two are never told apart."""

    status_code = 404
    code = "not_found"

    def default_message(self) -> str:
        return "Not found."


class NotAllowed(DomainError):
    """The actor is known to the organisation but their role does not permit this action."""

    status_code = 403
    code = "not_allowed"

    def default_message(self) -> str:
        return "Your role does not allow this action."


class Conflict(DomainError):
    """The action clashes with the current state (e.g. an illegal state transition)."""

    status_code = 409
    code = "conflict"

    def default_message(self) -> str:
        return "This conflicts with the current state."
