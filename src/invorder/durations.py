"""Durations as operators write them: 90, 90s, 15m, 12h, 7d, 2w."""

from __future__ import annotations

from invorder.errors import FieldError, InvalidInput

# What `parse_duration` reads, as the API's schema gives them: a number (a fraction
# allowed) and an optional unit, with at most as many digits as keep it under 100 years.
DURATION_PATTERN = (
    r"^([0-9]{1,9}(\.[0-9]{1,6})?s?|[0-9]{1,7}(\.[0-9]{1,6})?m|[0-9]{1,5}(\.[0-9]{1,6})?h"
    r"|[0-9]{1,4}(\.[0-9]{1,6})?d|[0-9]{1,3}(\.[0-9]{1,6})?w)$"
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `12h`, `7d` or `2w` as seconds (any float; `purge_jobs` bounds it)."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a duration (e.g. 90s, 15m, 12h, 7d)", [FieldError("older_than", "not a duration")]
        ) from None
    return seconds  # its range is purge_jobs' to check, the one place the bound matters
