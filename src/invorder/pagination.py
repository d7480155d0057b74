"""Keyset pagination: the opaque cursor clients pass back, and the page limit rules."""

from __future__ import annotations

import base64
import binascii

from invorder.errors import FieldError, InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id after which the page starts (0 for the first page)."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "id":
            raise ValueError(text)
        last_id = int(value)
        if last_id < 0:
            raise ValueError(text)
        return last_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        message = "cursor is not one this API handed out"
        raise InvalidInput(message, [FieldError("cursor", message)]) from None


def next_cursor(ids: list[int], limit: int) -> str | None:
    """The cursor of the next page, or None when this page was the last."""
    return encode_cursor(ids[-1]) if len(ids) == limit and ids else None
