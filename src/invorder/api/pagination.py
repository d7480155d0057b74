"""Keyset pagination: the cursor clients pass back, and the page limit rules."""

from __future__ import annotations

from invorder.errors import BadRequest, FieldError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# A cursor is the id the previous page ended on, in decimal. The OpenAPI document gives this
# pattern, so every cursor it admits is one the API accepts; a client should still treat it as
# opaque and only pass back `next_cursor`.
CURSOR_PATTERN = r"^[0-9]{1,19}$"
_LAST_ID = 2**63 - 1  # ids are bigint: a larger cursor is past every row


def encode_cursor(last_id: int) -> str:
    return str(last_id)


def decode_cursor(cursor: str | None) -> int:
    """The id after which the page starts (0 for the first page)."""
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 19):
        message = "cursor is not one this API handed out"
        raise BadRequest(message, [FieldError("cursor", message)])  # as the document's pattern refuses it
    return min(int(cursor), _LAST_ID)


def next_cursor(ids: list[int], limit: int) -> str | None:
    """The cursor of the next page, or None when this page was the last."""
    return encode_cursor(ids[-1]) if len(ids) == limit and ids else None
