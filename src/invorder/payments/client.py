"""The async HTTP client for the payment provider, as the workers use it: charge, and find out what happened.
It runs on aiohttp: far less CPU per charge than httpx (docs/benchmarks.md, "The payment client: aiohttp")."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import aiohttp
import msgspec

from invorder.settings import Settings

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


class ProviderRefund(msgspec.Struct, frozen=True):
    """A refund as the provider records it: `succeeded`, or `failed` (refused, for good)."""

    id: str
    idempotency_key: str
    charge_id: str
    amount_cents: int
    status: str
    failure_reason: str | None
    created_at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


class _RefundList(msgspec.Struct, frozen=True):
    data: list[ProviderRefund]


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
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout_s, sock_read=read_timeout_s)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None  # made on first use, inside the event loop

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
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                self._base_url,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                headers={"Accept": "application/json"},
            )
        return self._session

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

    async def refund(self, *, idempotency_key: str, charge_id: str, amount_cents: int) -> ProviderRefund:
        """Refund `amount_cents` of `charge_id` once for `idempotency_key`: a retry with the same key
        returns the first refund (which may have failed: look at `status`)."""
        fields = {"idempotency_key": idempotency_key, "charge_id": charge_id, "amount_cents": amount_cents}
        response = await self._send(
            "POST",
            "/v1/refunds",
            fields,
            headers={"Idempotency-Key": idempotency_key},
            content=msgspec.json.encode({"charge_id": charge_id, "amount_cents": amount_cents}),
        )
        refund = self._decode(response, ProviderRefund, fields)
        log.debug(
            "payment provider answered",
            extra={**fields, "refund_id": refund.id, "status": refund.status, "http_status": response.status_code},
        )
        return refund

    async def find_refund(self, *, idempotency_key: str) -> ProviderRefund | None:
        """The refund made under `idempotency_key`, or None if the provider has none."""
        fields = {"idempotency_key": idempotency_key}
        response = await self._send("GET", "/v1/refunds", fields, params=fields)
        found = self._decode(response, _RefundList, fields).data
        return found[0] if found else None

    async def refunds_of_charge(self, charge_id: str) -> list[ProviderRefund]:
        """Every refund the provider holds for `charge_id`, oldest first."""
        fields = {"charge_id": charge_id}
        response = await self._send("GET", "/v1/refunds", fields, params=fields)
        return self._decode(response, _RefundList, fields).data

    async def _send(
        self,
        method: str,
        path: str,
        fields: Mapping[str, object],
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> _Answer:
        """Send one request; turn every answer that is not a success into one of our two errors."""
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            async with self._http().request(method, path, headers=headers, params=params, data=content) as response:
                answer = _Answer(response.status, await response.read())
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            log.warning("payment provider unreachable: %r", exc, extra=fields)
            raise PaymentProviderUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Read timeouts, reset connections: the request may have been processed.
            log.warning("payment provider unreachable: %r", exc, extra=fields)
            raise PaymentOutcomeUnknown(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if 200 <= answer.status_code < 300:
            return answer
        detail = _problem_detail(answer)
        if answer.status_code >= 500 or answer.status_code in _RETRYABLE_CLIENT_ERRORS:
            log.warning("payment provider failed: %s %s", answer.status_code, detail, extra=fields)
            raise PaymentOutcomeUnknown(f"{method} {path}: {answer.status_code} {detail}")
        log.warning("payment provider refused: %s %s", answer.status_code, detail, extra=fields)
        raise PaymentRejected(answer.status_code, detail)

    @staticmethod
    def _decode(response: _Answer, type_: type[T], fields: Mapping[str, object]) -> T:
        try:
            return msgspec.json.decode(response.content, type=type_)
        except msgspec.DecodeError as exc:
            # A success we cannot read tells us no more than no answer at all.
            log.warning("payment provider sent an unreadable answer: %s", exc, extra=fields)
            raise PaymentOutcomeUnknown(f"unreadable answer ({response.status_code}): {exc}") from exc


def payments_client(settings: Settings, *, max_connections: int | None = None) -> PaymentsClient:
    """The one way a process makes its client of the provider at INVORDER_PAYMENTS_URL: with
    the configured timeouts, and at most `max_connections` (the payments in flight) at once."""
    return PaymentsClient(
        settings.payments_url,
        connect_timeout_s=settings.payments_connect_timeout_s,
        read_timeout_s=settings.payments_read_timeout_s,
        max_connections=settings.payment_max_in_flight if max_connections is None else max_connections,
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    """A whole answer of the provider, read before its connection goes back to the pool."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def _problem_detail(response: _Answer) -> str:
    """The `detail` of a problem-details body, else the start of whatever came back."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return response.text[:200]
