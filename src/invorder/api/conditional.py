"""ETag and If-Match: the version of a resource on the wire."""

from __future__ import annotations

from invorder.errors import PreconditionFailed

MAX_VERSION = 2**31 - 1  # versions are `integer` columns


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header asks for; None when absent or `*` (any version)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    if len(tags) == 1:
        tag = tags[0].removeprefix("W/").strip('"')
        if tag.isdigit() and int(tag) <= MAX_VERSION:
            return int(tag)
    raise PreconditionFailed(f"If-Match {if_match!r} matches no version of this resource")
