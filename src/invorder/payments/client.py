"""The async HTTP client for the payment provider, as the workers use it: charge, and find out what happened."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import httpx
import msgspec

log = logging.getLogger(__name__)
T = TypeVar("T")

SUCCEEDED = "succeeded"
DECLINED = "declined"
# 4xx answers that mean "not processed, try again later" rather than "your request is wrong".
_RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


class Charge(msgspec.Struct, frozen=True):
    id: str
    idempotency_key: str
    amount_cents: int
    reference: str
    status: str
    created_at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


class _ChargeList(msgspec.Struct, frozen=True):
    data: list[Charge]


class PaymentOutcomeUnknown(Exception):
    """The provider gave no usable answer (timeout, connection error, 5xx, unreadable body): the
    charge may or may not have been made. Retry with the same idempotency key, or look it up."""


class PaymentProviderUnreachable(PaymentOutcomeUnknown):
    """No connection could be made (refused, or the connect timed out): the request never
    reached the provider, so it certainly did not charge."""


class PaymentRejected(Exception):
    """The provider refused the request as wrong (a 4xx), e.g. a key reused with another amount.
    Retrying the same request will not help."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"payment provider refused the request ({status_code}): {detail}")
        self.status_code = status_code
        self.detail = detail


class PaymentsClient:
    """One connection pool to the provider; share one instance per process and close it at the end."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 5.0,
        max_connections: int = 100,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"Accept": "application/json"},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def charge(self, *, idempotency_key: str, amount_cents: int, reference: str) -> Charge:
        """Charge `amount_cents` once for `idempotency_key`: a retry with the same key returns the
        first charge (which may be declined: look at `status`)."""
        fields = {"idempotency_key": idempotency_key, "reference": reference, "amount_cents": amount_cents}
        response = await self._send(
            "POST",
            "/v1/charges",
            fields,
            headers={"Idempotency-Key": idempotency_key},
            content=msgspec.json.encode({"amount_cents": amount_cents, "reference": reference}),
        )
        charge = self._decode(response, Charge, fields)
        log.debug(
            "payment provider answered",
            extra={**fields, "charge_id": charge.id, "status": charge.status, "http_status": response.status_code},
        )
        return charge

    async def find_charge(self, *, idempotency_key: str) -> Charge | None:
        """The charge made under `idempotency_key`, or None if the provider has none."""
        fields = {"idempotency_key": idempotency_key}
        response = await self._send("GET", "/v1/charges", fields, params=fields)
        found = self._decode(response, _ChargeList, fields).data
        return found[0] if found else None

    async def charges_for_reference(self, reference: str) -> list[Charge]:
        """Every charge the provider holds for `reference`, oldest first."""
        fields = {"reference": reference}
        response = await self._send("GET", "/v1/charges", fields, params=fields)
        return self._decode(response, _ChargeList, fields).data

    async def _send(
        self,
        method: str,
        path: str,
        fields: Mapping[str, object],
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send one request; turn every answer that is not a success into one of our two errors."""
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            response = await self._http.request(method, path, headers=headers, params=params, content=content)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            log.warning("payment provider unreachable: %r", exc, extra=fields)
            raise PaymentProviderUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except httpx.TransportError as exc:
            # Read timeouts, reset connections: the request may have been processed.
            log.warning("payment provider unreachable: %r", exc, extra=fields)
            raise PaymentOutcomeUnknown(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        detail = _problem_detail(response)
        if response.status_code >= 500 or response.status_code in _RETRYABLE_CLIENT_ERRORS:
            log.warning("payment provider failed: %s %s", response.status_code, detail, extra=fields)
            raise PaymentOutcomeUnknown(f"{method} {path}: {response.status_code} {detail}")
        log.warning("payment provider refused: %s %s", response.status_code, detail, extra=fields)
        raise PaymentRejected(response.status_code, detail)

    @staticmethod
    def _decode(response: httpx.Response, type_: type[T], fields: Mapping[str, object]) -> T:
        try:
            return msgspec.json.decode(response.content, type=type_)
        except msgspec.DecodeError as exc:
            # A success we cannot read tells us no more than no answer at all.
            log.warning("payment provider sent an unreadable answer: %s", exc, extra=fields)
            raise PaymentOutcomeUnknown(f"unreadable answer ({response.status_code}): {exc}") from exc


def _problem_detail(response: httpx.Response) -> str:
    """The `detail` of a problem-details body, else the start of whatever came back."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return response.text[:200]
