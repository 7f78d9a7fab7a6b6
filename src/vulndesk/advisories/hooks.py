"""Extension points for apps built on advisories (OSV index, notifications, exports).

``PUBLISH_HOOKS`` run *inside* the publishing transaction (e.g. the OSV query index, which must
never disagree with what is published). ``revision_published`` and ``advisory_withdrawn`` are
signals sent *after* commit, for fan-out work (e-mail, webhooks) that must not run for a
rolled-back publish. Receivers get ids only and load what they need.
"""

from collections.abc import Callable

from django.dispatch import Signal

PUBLISH_HOOKS: list[Callable] = []  # hook(advisory, revision) inside the transaction
WITHDRAW_HOOKS: list[Callable] = []  # hook(advisory) inside the transaction

revision_published = Signal()  # kwargs: advisory_id, revision
advisory_withdrawn = Signal()  # kwargs: advisory_id, revision
advisory_scheduled = Signal()  # kwargs: advisory_id
