"""The one reader of the wall clock.

Every service asks ``clock.now()`` for the time, so tests freeze or move time by replacing one
function (see ``tests/conftest.py::frozen_clock``) and deadline maths never sees a naive datetime.
"""

from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, aware, in UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Pin ``now()`` to ``at`` (aware), or release it with ``None``. For tests and benchmarks."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("clock.freeze needs an aware datetime")
    _frozen = at
