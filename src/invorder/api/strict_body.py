"""Strict JSON bodies: Litestar converts request data leniently (the string "12" becomes the
int 12); this hook decodes every body strictly against the handler's declared type first, so a
wrong type is refused with 400 before the handler runs."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


async def check_json_body(request: Request[Any, Any, Any]) -> None:
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
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message = str(exc)
        key = message.split("at `$.", 1)[1].rstrip("`") if "at `$." in message else "body"
        raise ValidationException(detail=message, extra=[{"message": message, "key": key, "source": "body"}]) from None
