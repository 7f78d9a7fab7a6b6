"""The OSV document of an advisory, per edition (``content.py``).

The published edition *is* ``Advisory.public_document``, the frozen snapshot that the OSV API
and the public pages serve, so validating it validates exactly what is public. The draft
edition is ``advisories.documents.osv_document`` over the live fields, dated by the last edit.
Both carry the ``x_`` id prefix, which only the unreleased OSV schema (after 1.7.5) accepts.
"""

import copy

from vulndesk.advisories.documents import osv_document
from vulndesk.advisories.models import Advisory
from vulndesk.exports.content import PUBLISHED, published_content


def osv_export(advisory: Advisory, *, edition: str) -> dict:
    if edition == PUBLISHED:
        published_content(advisory)  # raises EditionUnavailable for an unpublished advisory
        return copy.deepcopy(advisory.public_document)
    return osv_document(advisory, modified=advisory.modified_at, published=advisory.published_at)
