"""Strict JSON bodies: the hook that decodes every request body against the handler's declared
type before the handler runs."""

from __future__ import annotations

import re
from typing import Any, NoReturn

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from invorder.errors import BadRequest, FieldError

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse with 400, before the handler runs, a body that does not decode strictly as the
    handler's declared type: Litestar converts request data leniently (the string "12" becomes
    the int 12). A whole number written as a float (`5.0`, `1e3`) is an integer in JSON Schema,
    and so in the OpenAPI document: it is accepted. Text holding NUL, which PostgreSQL cannot
    store, is refused here too."""
    data_field = request.route_handler.parsed_data_field
    if data_field is None:
        return
    body = await request.body()
    if not body:
        return  # Litestar reports the missing body itself
    target = data_field.annotation
    decoder = _decoders.get(target)
    if decoder is None:
        decoder = _decoders[target] = msgspec.json.Decoder(target)
    try:
        decoder.decode(body)
    except msgspec.ValidationError as exc:
        try:  # the rare body with a whole float in it: the strict check again, with integers
            msgspec.convert(_whole_floats_as_ints(msgspec.json.decode(body)), target, strict=True)
        except (msgspec.ValidationError, msgspec.DecodeError):
            _refuse(exc)
    except msgspec.DecodeError as exc:
        _refuse(exc)
    if b"\\u0000" in body and _holds_nul(msgspec.json.decode(body)):
        raise BadRequest("text may not contain NUL (\\u0000)", [FieldError("body", "NUL in text")])


def whole(pattern: str, value: str, field: str) -> str:
    """`value`, if `pattern` matches all of it. msgspec checks a pattern with `re.search`, where
    `$` also matches before a final newline; JSON Schema's `$` does not, so the field's value
    is checked again, whole, and a 400 when only Python's reading lets it through."""
    if re.fullmatch(pattern, value) is None:
        raise BadRequest(f"{field} does not match {pattern}", [FieldError(field, "does not match its pattern")])
    return value


def _refuse(exc: msgspec.MsgspecError) -> NoReturn:
    message = str(exc)
    key = message.split("at `$.", 1)[1].rstrip("`") if "at `$." in message else "body"
    raise ValidationException(detail=message, extra=[{"message": message, "key": key, "source": "body"}]) from None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


def _whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_floats_as_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_floats_as_ints(v) for k, v in value.items()}
    return value
