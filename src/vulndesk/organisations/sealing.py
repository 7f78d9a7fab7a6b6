"""Encrypted attributes on models: the plaintext lives only in Python, the row holds envelopes.

``SealedModel`` rows keep one or more sealed columns (TextFields holding ``organisations.keys``
envelopes of a small JSON object). ``SealedText("sealed_title", "title")`` exposes one key of
one column as an ordinary attribute: reading unseals the column once per object; writing marks
it for re-sealing, which ``save()`` does (``seal_pending()`` for bulk writers). Each column is
bound to its row by the associated data (``sealing_aad``), so an envelope copied to another row
or column does not decrypt.

The blind index: ``search_tokens`` turns words into keyed HMACs, so the title can be searched
by whole words without the database holding the words. It reveals which rows share a word,
never the word (documented trade-off; substring search is not offered).

Key rotation walks ``SEALED_MODELS`` (every app registers its sealed models in ``ready()``)
and re-seals rows still on an older key version, in batches, while the site keeps running.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Callable

from django.db import models

from vulndesk.organisations import keys

SEALED_MODELS: list[type["SealedModel"]] = []
# Extra re-encryption steps (e.g. attachment files), called with (organisation_id, old_version).
ROTATION_HOOKS: list[Callable[[int, int], int]] = []
_WORD = re.compile(r"\w{2,}", re.UNICODE)


def _plain(obj: "SealedModel", column: str) -> dict:
    cache_name = f"_plain_{column}"
    cached = obj.__dict__.get(cache_name)
    if cached is None:
        text = getattr(obj, column)
        cached = json.loads(keys.unseal(organisation_id=obj.sealing_organisation_id(), aad=obj.sealing_aad(column),
                                        text=text)) if text else {}
        obj.__dict__[cache_name] = cached
    return cached


class SealedText(property):
    """A text attribute stored inside the sealed column ``column`` under ``key``."""

    def __init__(self, column: str, key: str):
        self.column, self.key = column, key

        def getter(obj):
            return _plain(obj, column).get(key, "")

        def setter(obj, value):
            _plain(obj, column)[key] = value if value is not None else ""
            obj.__dict__.setdefault("_sealed_dirty", set()).add(column)

        super().__init__(getter, setter, doc=f"Plaintext {key!r}, stored encrypted in {column}.")


class SealedModel(models.Model):
    class Meta:
        abstract = True

    # Subclasses name their sealed columns and how a row is bound to its key and data.
    sealed_columns: tuple[str, ...] = ()

    def sealing_organisation_id(self) -> int:
        raise NotImplementedError

    def sealing_aad(self, column: str) -> str:
        raise NotImplementedError

    def after_sealing(self, columns: set[str]) -> None:
        """Hook for derived columns (e.g. a blind index) computed from fresh plaintext."""

    def seal_pending(self) -> set[str]:
        dirty = self.__dict__.pop("_sealed_dirty", set())
        for column in dirty:
            payload = json.dumps(_plain(self, column), ensure_ascii=False, separators=(",", ":")).encode()
            setattr(self, column, keys.seal(organisation_id=self.sealing_organisation_id(),
                                            aad=self.sealing_aad(column), plaintext=payload))
        if dirty:
            self.after_sealing(dirty)
        return dirty

    def reseal_all(self) -> None:
        """Mark every sealed column for re-encryption under the current key (rotation)."""
        for column in self.sealed_columns:
            _plain(self, column)
            self.__dict__.setdefault("_sealed_dirty", set()).add(column)

    def refresh_from_db(self, *args, **kwargs):
        # Reloaded envelopes must not be read through plaintext cached from the old ones.
        for column in self.sealed_columns:
            self.__dict__.pop(f"_plain_{column}", None)
        self.__dict__.pop("_sealed_dirty", None)
        super().refresh_from_db(*args, **kwargs)

    def save(self, *args, **kwargs):
        # Encoding for storage, like a custom field's get_prep_value: no business rule here.
        dirty = self.seal_pending()
        if dirty and kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = set(kwargs["update_fields"]) | dirty | set(self.derived_sealing_columns)
        super().save(*args, **kwargs)

    derived_sealing_columns: tuple[str, ...] = ()


def search_tokens(*, organisation_id: int, text: str) -> str:
    """Space-delimited keyed hashes of the words of ``text`` (blind index)."""
    key = keys.search_key(organisation_id)
    words = {word.casefold() for word in _WORD.findall(text or "")}
    tokens = sorted(hmac.new(key, word.encode(), hashlib.sha256).hexdigest()[:16] for word in words)
    return f" {' '.join(tokens)} " if tokens else ""


def search_terms(*, organisation_id: int, query: str) -> list[str]:
    """The index tokens to look for, one per word of the query (all must match)."""
    key = keys.search_key(organisation_id)
    return [hmac.new(key, word.casefold().encode(), hashlib.sha256).hexdigest()[:16]
            for word in dict.fromkeys(_WORD.findall(query or ""))]
