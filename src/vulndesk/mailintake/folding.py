"""Folding quoted history and signatures out of the way when a mail text is shown. Pure.

The stored text is always the full text the reporter sent; ``fold_quoted`` only splits it into
segments, and templates show the folded ones collapsed (``<details>``), never drop them: the
quoted part of a reply sometimes is the point ("as I wrote below, the patch misses X").
"""

import re
from dataclasses import dataclass

# "On Mon, 1 Dec 2026 at 10:00, Alice <a@example.org> wrote:" and its common translations.
_ATTRIBUTION = re.compile(
    r"^\s*(On\s.{4,300}\swrote:|Am\s.{4,300}\sschrieb.{0,60}:|Le\s.{4,300}\sa\s[ée]crit\s?:|"
    r"El\s.{4,300}\sescribi[óo]:|Op\s.{4,300}\sschreef.{0,60}:|.{4,300}\s<[^>\s]+@[^>\s]+>\s(wrote|schrieb):)\s*$",
    re.IGNORECASE,
)
# Everything after these lines is an earlier message, quoted by Outlook-style clients.
_HISTORY = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Urspr[üu]ngliche Nachricht|Message d'origine|Forwarded message)\s*-{2,}|"
    r"_{20,}|Begin forwarded message:)\s*$",
    re.IGNORECASE,
)
_QUOTE = re.compile(r"^\s{0,3}>")
SIGNATURE_MAX_LINES = 20


@dataclass(frozen=True)
class Segment:
    text: str
    folded: bool = False
    label: str = ""  # what a folded segment holds: "Quoted text", "Earlier messages", "Signature"


def fold_quoted(text: str) -> list[Segment]:
    lines = (text or "").replace("\r\n", "\n").split("\n")
    kinds = ["text"] * len(lines)
    history_at = next((n for n, line in enumerate(lines) if _HISTORY.match(line)), None)
    if history_at is not None:
        kinds[history_at:] = ["history"] * (len(lines) - history_at)
    for n, line in enumerate(lines[: history_at]):
        if _QUOTE.match(line):
            kinds[n] = "quote"
    # An attribution line belongs to the quote that follows it (blank lines in between allowed).
    for n, line in enumerate(lines[: history_at]):
        if kinds[n] == "text" and _ATTRIBUTION.match(line):
            following = next((m for m in range(n + 1, len(lines)) if lines[m].strip()), None)
            if following is not None and kinds[following] in {"quote", "history"}:
                for m in range(n, following):
                    kinds[m] = "quote"
    # Blank lines inside one quote block stay in it.
    for n, line in enumerate(lines):
        if kinds[n] == "text" and not line.strip():
            before = next((kinds[m] for m in range(n - 1, -1, -1) if lines[m].strip()), None)
            after = next((kinds[m] for m in range(n + 1, len(lines)) if lines[m].strip()), None)
            if before == after == "quote":
                kinds[n] = "quote"
    # The signature: from the last "-- " delimiter (RFC 3676 section 4.3) to the end of the own
    # text, if that is short enough to be a signature and not a reply written below it.
    own_end = history_at if history_at is not None else len(lines)
    delimiter = next((n for n in range(own_end - 1, -1, -1) if lines[n] in {"-- ", "--"} and kinds[n] == "text"),
                     None)
    if delimiter is not None:
        tail = [n for n in range(delimiter, own_end) if kinds[n] == "text"]
        if len(tail) <= SIGNATURE_MAX_LINES + 1:
            for n in tail:
                kinds[n] = "signature"
    return _segments(lines, kinds)


_LABELS = {"quote": "Quoted text", "history": "Earlier messages", "signature": "Signature"}


def _segments(lines: list[str], kinds: list[str]) -> list[Segment]:
    segments: list[Segment] = []
    start = 0
    for n in range(1, len(lines) + 1):
        if n == len(lines) or kinds[n] != kinds[start]:
            chunk = "\n".join(lines[start:n]).strip("\n")
            if chunk.strip():
                kind = kinds[start]
                segments.append(Segment(text=chunk, folded=kind != "text", label=_LABELS.get(kind, "")))
            start = n
    return segments
