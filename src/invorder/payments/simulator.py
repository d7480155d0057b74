"""The payment simulator: an HTTP service standing for the external payment provider, with faults on demand."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec
from litestar import Controller, Litestar, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta

from invorder.errors import IdempotencyMismatch, InvorderError, Unavailable
from invorder.logs import configure_logging
from invorder.web.problems import EXCEPTION_HANDLERS
from invorder.web.strict_body import check_json_body

log = logging.getLogger(__name__)

# How long a "timeout" fault hangs: far longer than any sane client waits.
HANG_S = 60.0
DEFAULT_DATA_FILE = Path(".invorder") / "payments-sim.sqlite3"
ENV_PREFIX = "INVORDER_SIM_"

Rate = Annotated[float, Meta(ge=0, le=1)]
LatencyMs = Annotated[int, Meta(ge=0, le=600_000)]
IdempotencyKey = Annotated[str, Meta(min_length=1, max_length=255)]
Reference = Annotated[str, Meta(min_length=1, max_length=255)]
AmountCents = Annotated[int, Meta(ge=0, le=10**12)]
ChargeStatus = Literal["succeeded", "declined"]
RefundStatus = Literal["succeeded", "failed"]
ChargeId = Annotated[str, Meta(min_length=1, max_length=255)]
RefundAmountCents = Annotated[int, Meta(ge=1, le=10**12)]


class SimulatorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the simulator misbehaves. Rates are probabilities per new charge request."""

    latency_ms: LatencyMs = 0
    decline_rate: Rate = 0.0
    error_rate: Rate = 0.0
    timeout_rate: Rate = 0.0
    lost_response_rate: Rate = 0.0
    refund_failure_rate: Rate = 0.0  # share of new refunds the provider refuses (`failed`)
    seed: int | None = None


class SimulatorConfigPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`PUT /_sim/config`: the fields to change; a new `seed` restarts the dice."""

    latency_ms: LatencyMs | msgspec.UnsetType = msgspec.UNSET
    decline_rate: Rate | msgspec.UnsetType = msgspec.UNSET
    error_rate: Rate | msgspec.UnsetType = msgspec.UNSET
    timeout_rate: Rate | msgspec.UnsetType = msgspec.UNSET
    lost_response_rate: Rate | msgspec.UnsetType = msgspec.UNSET
    refund_failure_rate: Rate | msgspec.UnsetType = msgspec.UNSET
    seed: int | msgspec.UnsetType | None = msgspec.UNSET


class ChargeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    amount_cents: AmountCents
    reference: Reference


class ChargeOut(msgspec.Struct, frozen=True):
    id: str
    idempotency_key: str
    amount_cents: int
    reference: str
    status: ChargeStatus
    created_at: datetime


class ChargeList(msgspec.Struct, frozen=True):
    data: list[ChargeOut]


class RefundIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    charge_id: ChargeId
    amount_cents: RefundAmountCents


class RefundOut(msgspec.Struct, frozen=True):
    id: str
    idempotency_key: str
    charge_id: str
    amount_cents: int
    status: RefundStatus
    failure_reason: str | None
    created_at: datetime


class RefundList(msgspec.Struct, frozen=True):
    data: list[RefundOut]


class Health(msgspec.Struct, frozen=True):
    status: str


class IdempotencyKeyRequired(InvorderError):
    status = 400
    title = "Idempotency-Key header required"
    slug = "idempotency-key-required"


class LookupFilterRequired(InvorderError):
    status = 400
    title = "A filter is required"
    slug = "filter-required"


class RefundRefused(InvorderError):
    """A refund the provider cannot take at all: no such charge, a declined one, or more than
    what is left of it. Nothing is recorded."""

    status = 422
    title = "Refund refused"
    slug = "refund-refused"


class SimulatedLostResponse(InvorderError):
    status = 502
    title = "Bad gateway"
    slug = "bad-gateway"


class SimulatedTimeout(InvorderError):
    status = 504
    title = "Gateway timeout"
    slug = "gateway-timeout"


def validate_config(config: SimulatorConfig) -> SimulatorConfig:
    """`config` checked against its constraints (building a Struct by hand does not check them)."""
    try:
        return msgspec.convert(msgspec.to_builtins(config), SimulatorConfig)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid simulator config: {exc}") from exc


# The simulator's own SQLite schema and statements: it stands for another company's service, so
# its storage stays here rather than with invorder's PostgreSQL queries in sql/.
_SCHEMA = """
create table if not exists charges (
    id text primary key,
    idempotency_key text not null unique,
    amount_cents integer not null check (amount_cents >= 0),
    reference text not null,
    status text not null check (status in ('succeeded', 'declined')),
    created_at text not null
);
create index if not exists charges_reference_idx on charges (reference);
create table if not exists refunds (
    id text primary key,
    idempotency_key text not null unique,
    charge_id text not null references charges (id),
    amount_cents integer not null check (amount_cents > 0),
    status text not null check (status in ('succeeded', 'failed')),
    failure_reason text,
    created_at text not null
);
create index if not exists refunds_charge_id_idx on refunds (charge_id);
"""
_REFUND_COLUMNS = "select id, idempotency_key, charge_id, amount_cents, status, failure_reason, created_at from refunds"
_FIND_REFUND_BY_KEY = _REFUND_COLUMNS + " where idempotency_key = :idempotency_key"
_FIND_REFUNDS = (
    _REFUND_COLUMNS
    + """
where (:idempotency_key is null or idempotency_key = :idempotency_key)
  and (:charge_id is null or charge_id = :charge_id)
order by created_at, id
"""
)
_FIND_CHARGE_BY_ID = (
    "select id, idempotency_key, amount_cents, reference, status, created_at from charges where id = :id"
)
_REFUNDED_OF_CHARGE = (
    "select coalesce(sum(amount_cents), 0) from refunds where charge_id = :charge_id and status = 'succeeded'"
)
_INSERT_REFUND = """
insert into refunds (id, idempotency_key, charge_id, amount_cents, status, failure_reason, created_at)
values (:id, :idempotency_key, :charge_id, :amount_cents, :status, :failure_reason, :created_at)
"""
_INSERT_CHARGE = """
insert into charges (id, idempotency_key, amount_cents, reference, status, created_at)
values (:id, :idempotency_key, :amount_cents, :reference, :status, :created_at)
on conflict (idempotency_key) do nothing
"""
_SELECT_COLUMNS = "select id, idempotency_key, amount_cents, reference, status, created_at from charges"
_FIND_BY_KEY = _SELECT_COLUMNS + " where idempotency_key = :idempotency_key"
_FIND_CHARGES = (
    _SELECT_COLUMNS
    + """
where (:idempotency_key is null or idempotency_key = :idempotency_key)
  and (:reference is null or reference = :reference)
order by created_at, id
"""
)


class ChargeStore:
    """The record of charges in one SQLite file, which survives the simulator being killed or
    restarted; a unique key on `idempotency_key` means a concurrent duplicate can never make a
    second charge. Blocking; callers run it in a thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("pragma journal_mode = wal")
        # WAL with synchronous=normal: a commit survives the simulator process being killed (the
        # record the tests and the reconciler rely on); only an OS crash could lose the last few.
        # `full` fsyncs every charge, which capped the simulator's charges per second
        # (docs/benchmarks.md, "The payment simulator's record").
        self._conn.execute("pragma synchronous = normal")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def record(self, charge: ChargeOut) -> tuple[ChargeOut, bool]:
        """Record `charge` unless its key is taken; return the charge on record for the key and
        whether it is the one just recorded. The unique key settles concurrent duplicates."""
        row = msgspec.to_builtins(charge)
        with self._lock:
            created = self._conn.execute(_INSERT_CHARGE, row).rowcount == 1
            found = self._conn.execute(_FIND_BY_KEY, {"idempotency_key": charge.idempotency_key}).fetchone()
        return _charge_from_row(found), created

    def find_by_key(self, idempotency_key: str) -> ChargeOut | None:
        with self._lock:
            found = self._conn.execute(_FIND_BY_KEY, {"idempotency_key": idempotency_key}).fetchone()
        return None if found is None else _charge_from_row(found)

    def find(self, *, idempotency_key: str | None, reference: str | None) -> list[ChargeOut]:
        with self._lock:
            rows = self._conn.execute(
                _FIND_CHARGES, {"idempotency_key": idempotency_key, "reference": reference}
            ).fetchall()
        return [_charge_from_row(r) for r in rows]

    def record_refund(self, refund: RefundOut) -> tuple[RefundOut, bool]:
        """Record `refund` unless its key is taken: the refund on record for the key, and whether
        it is the one just recorded. Refused (nothing recorded) when its charge does not exist, was
        declined, or has less left unrefunded than asked; checked and recorded under one lock, so
        concurrent refunds of one charge never exceed it."""
        with self._lock:
            found = self._conn.execute(_FIND_REFUND_BY_KEY, {"idempotency_key": refund.idempotency_key}).fetchone()
            if found is not None:
                return _refund_from_row(found), False
            charge = self._conn.execute(_FIND_CHARGE_BY_ID, {"id": refund.charge_id}).fetchone()
            if charge is None or _charge_from_row(charge).status != "succeeded":
                raise RefundRefused(f"no succeeded charge {refund.charge_id!r} to refund")
            (refunded,) = self._conn.execute(_REFUNDED_OF_CHARGE, {"charge_id": refund.charge_id}).fetchone()
            left = _charge_from_row(charge).amount_cents - int(refunded)
            if refund.amount_cents > left:
                raise RefundRefused(f"charge {refund.charge_id} has {left} cents left to refund")
            self._conn.execute(_INSERT_REFUND, msgspec.to_builtins(refund))
        return refund, True

    def find_refund_by_key(self, idempotency_key: str) -> RefundOut | None:
        with self._lock:
            found = self._conn.execute(_FIND_REFUND_BY_KEY, {"idempotency_key": idempotency_key}).fetchone()
        return None if found is None else _refund_from_row(found)

    def find_refunds(self, *, idempotency_key: str | None, charge_id: str | None) -> list[RefundOut]:
        with self._lock:
            rows = self._conn.execute(
                _FIND_REFUNDS, {"idempotency_key": idempotency_key, "charge_id": charge_id}
            ).fetchall()
        return [_refund_from_row(r) for r in rows]


def _refund_from_row(row: tuple[object, ...]) -> RefundOut:
    fields = dict(zip(RefundOut.__struct_fields__, row, strict=True))
    return msgspec.convert(fields, RefundOut, strict=False)


def _charge_from_row(row: tuple[object, ...]) -> ChargeOut:
    fields = dict(zip(ChargeOut.__struct_fields__, row, strict=True))
    return msgspec.convert(fields, ChargeOut, strict=False)


class Dice(msgspec.Struct, frozen=True):
    """One new request's draw: which faults strike, and whether the provider refuses it (a charge
    declined, a refund failed)."""

    error: bool
    timeout: bool
    refused: bool
    lost_response: bool


class Simulator:
    """The running simulator: its current config, its dice and its record of charges."""

    def __init__(self, config: SimulatorConfig, store: ChargeStore) -> None:
        self.config = config
        self.store = store
        self._rng = random.Random(config.seed)

    def reconfigure(self, patch: SimulatorConfigPatch) -> SimulatorConfig:
        changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
        self.config = msgspec.structs.replace(self.config, **changes)
        if "seed" in changes:
            self._rng = random.Random(self.config.seed)
        log.info("simulator reconfigured", extra={"config": msgspec.to_builtins(self.config)})
        return self.config

    def roll(self, refusal_rate: float) -> Dice:
        # Always four draws per new request, so a seed gives the same sequence whatever the rates.
        c = self.config
        draws = [self._rng.random() for _ in range(4)]
        return Dice(
            error=draws[0] < c.error_rate,
            timeout=draws[1] < c.timeout_rate,
            refused=draws[2] < refusal_rate,
            lost_response=draws[3] < c.lost_response_rate,
        )


def provide_simulator(state: State) -> Simulator:
    simulator: Simulator = state.simulator
    return simulator


SimulatorDep = NamedDependency[Simulator]
IdempotencyKeyHeader = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", max_length=255, description="one key per intended charge")
]


Made = TypeVar("Made", ChargeOut, RefundOut)


async def _make_once(
    simulator: Simulator,
    idempotency_key: str | None,
    *,
    what: str,
    done: str,
    fields: dict[str, object],
    find: Callable[[str], Made | None],
    replay: Callable[[Made], Response[Made]],
    refusal_rate: float,
    make: Callable[[str, bool], Made],
    record: Callable[[Made], tuple[Made, bool]],
) -> Response[Made]:
    """A new charge or refund (`what`; `done`: "charged", "refunded"), once per idempotency key:
    a replay returns the record and skips every fault but latency; faults strike new requests
    only, per request, from the seeded dice. `make(key, refused)` builds the new record."""
    if not idempotency_key:
        raise IdempotencyKeyRequired(f"send an Idempotency-Key header: the same key for every retry of a {what}")
    fields = {"idempotency_key": idempotency_key, **fields}
    if simulator.config.latency_ms:
        await asyncio.sleep(simulator.config.latency_ms / 1000)
    existing = await asyncio.to_thread(find, idempotency_key)
    if existing is not None:
        return replay(existing)
    dice = simulator.roll(refusal_rate)
    if dice.error:
        log.info("simulated error, nothing %s", done, extra=fields)
        raise Unavailable(f"simulated provider error; nothing was {done}")
    if dice.timeout:
        log.info("simulated hang, nothing %s", done, extra=fields)
        await asyncio.sleep(HANG_S)
        raise SimulatedTimeout(f"simulated hang; nothing was {done}")
    recorded, created = await asyncio.to_thread(record, make(idempotency_key, dice.refused))
    record_id = {f"{what}_id": recorded.id}
    if not created:
        # A concurrent request with the same key recorded first: this one is a replay.
        log.info("concurrent duplicate lost the race to record", extra={**fields, **record_id})
        return replay(recorded)
    log.info("%s recorded", what, extra={**fields, **record_id, "status": recorded.status})
    if dice.lost_response:
        log.info("simulated lost response, %s is recorded", what, extra={**fields, **record_id})
        raise SimulatedLostResponse(f"simulated lost response; the {what} may or may not have been made")
    return Response(recorded, status_code=201)


def _replay(charge: ChargeOut, body: ChargeIn) -> Response[ChargeOut]:
    if (charge.amount_cents, charge.reference) != (body.amount_cents, body.reference):
        raise IdempotencyMismatch(
            f"Idempotency-Key {charge.idempotency_key!r} was first used for amount_cents={charge.amount_cents} "
            f"reference={charge.reference!r}"
        )
    return Response(charge, status_code=200, headers={"Idempotent-Replayed": "true"})


class ChargeController(Controller):
    path = "/v1/charges"
    tags = ["charges"]

    @post("/")
    async def create_charge(
        self,
        data: JSONBody[ChargeIn],
        simulator: SimulatorDep,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ChargeOut]:
        return await _make_once(
            simulator,
            idempotency_key,
            what="charge",
            done="charged",
            fields={"reference": data.reference},
            find=simulator.store.find_by_key,
            replay=lambda charge: _replay(charge, data),
            refusal_rate=simulator.config.decline_rate,
            make=lambda key, refused: ChargeOut(
                id="ch_" + uuid.uuid4().hex,
                idempotency_key=key,
                amount_cents=data.amount_cents,
                reference=data.reference,
                status="declined" if refused else "succeeded",
                created_at=datetime.now(UTC),
            ),
            record=simulator.store.record,
        )

    @get("/")
    async def find_charges(
        self,
        simulator: SimulatorDep,
        idempotency_key: Annotated[str | None, QueryParameter(max_length=255)] = None,
        reference: Annotated[str | None, QueryParameter(max_length=255)] = None,
    ) -> ChargeList:
        # Never faulted: a lookup is how a caller finds out what really happened, and keeping
        # it reliable keeps the simulator simple.
        if idempotency_key is None and reference is None:
            raise LookupFilterRequired("give idempotency_key or reference (or both)")
        found = await asyncio.to_thread(simulator.store.find, idempotency_key=idempotency_key, reference=reference)
        return ChargeList(found)


def _replay_refund(refund: RefundOut, body: RefundIn) -> Response[RefundOut]:
    if (refund.charge_id, refund.amount_cents) != (body.charge_id, body.amount_cents):
        raise IdempotencyMismatch(
            f"Idempotency-Key {refund.idempotency_key!r} was first used for charge_id={refund.charge_id!r} "
            f"amount_cents={refund.amount_cents}"
        )
    return Response(refund, status_code=200, headers={"Idempotent-Replayed": "true"})


class RefundController(Controller):
    path = "/v1/refunds"
    tags = ["refunds"]

    @post("/")
    async def create_refund(
        self,
        data: JSONBody[RefundIn],
        simulator: SimulatorDep,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[RefundOut]:
        return await _make_once(
            simulator,
            idempotency_key,
            what="refund",
            done="refunded",
            fields={"charge_id": data.charge_id},
            find=simulator.store.find_refund_by_key,
            replay=lambda refund: _replay_refund(refund, data),
            refusal_rate=simulator.config.refund_failure_rate,
            make=lambda key, refused: RefundOut(
                id="re_" + uuid.uuid4().hex,
                idempotency_key=key,
                charge_id=data.charge_id,
                amount_cents=data.amount_cents,
                status="failed" if refused else "succeeded",
                failure_reason="simulated refusal" if refused else None,
                created_at=datetime.now(UTC),
            ),
            record=simulator.store.record_refund,
        )

    @get("/")
    async def find_refunds(
        self,
        simulator: SimulatorDep,
        idempotency_key: Annotated[str | None, QueryParameter(max_length=255)] = None,
        charge_id: Annotated[str | None, QueryParameter(max_length=255)] = None,
    ) -> RefundList:
        # Never faulted, as the charges' lookup.
        if idempotency_key is None and charge_id is None:
            raise LookupFilterRequired("give idempotency_key or charge_id (or both)")
        found = await asyncio.to_thread(
            simulator.store.find_refunds, idempotency_key=idempotency_key, charge_id=charge_id
        )
        return RefundList(found)


class ControlController(Controller):
    """Run-time control of the faults; registered only when control is enabled."""

    path = "/_sim/config"
    tags = ["simulator control"]

    @get("/")
    async def get_config(self, simulator: SimulatorDep) -> SimulatorConfig:
        return simulator.config

    @put("/")
    async def put_config(self, data: JSONBody[SimulatorConfigPatch], simulator: SimulatorDep) -> SimulatorConfig:
        return simulator.reconfigure(data)


@get("/healthz", tags=["health"])
async def healthz() -> Health:
    return Health("ok")


def create_simulator_app(config: SimulatorConfig, *, data_file: Path, control: bool) -> Litestar:
    """The simulator app; its record of charges is kept in `data_file` (created if missing)."""
    config = validate_config(config)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await asyncio.to_thread(ChargeStore, data_file)
        app.state.simulator = Simulator(config, store)
        log.info(
            "payment simulator ready",
            extra={"data_file": str(data_file), "control": control, "config": msgspec.to_builtins(config)},
        )
        try:
            yield
        finally:
            store.close()

    return Litestar(
        route_handlers=[ChargeController, RefundController, healthz, *([ControlController] if control else [])],
        lifespan=[lifespan],
        before_request=check_json_body,
        dependencies={"simulator": Provide(provide_simulator, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(title="invorder payment simulator", version="1", path="/schema"),
        logging_config=None,
    )


def config_from_env(environ: Mapping[str, str]) -> SimulatorConfig:
    """The config from `INVORDER_SIM_<FIELD>` variables (unset or empty means the default)."""
    raw = {}
    for field in SimulatorConfig.__struct_fields__:
        value = environ.get(ENV_PREFIX + field.upper(), "")
        if value:
            raw[field] = value
    try:
        return msgspec.convert(raw, SimulatorConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid simulator setting: {exc}") from exc


def _env_flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def create_simulator_app_from_env() -> Litestar:
    """Entry point for granian's factory mode: everything from `INVORDER_SIM_*` variables."""
    configure_logging(os.environ.get("INVORDER_LOG_LEVEL", "INFO"))
    return create_simulator_app(
        config_from_env(os.environ),
        data_file=Path(os.environ.get(ENV_PREFIX + "DATA_FILE") or DEFAULT_DATA_FILE),
        control=_env_flag(os.environ.get(ENV_PREFIX + "CONTROL", "")),
    )


def simulator_env(config: SimulatorConfig, *, data_file: Path, control: bool) -> dict[str, str]:
    """The `INVORDER_SIM_*` variables that make `create_simulator_app_from_env` build this app."""
    env = {ENV_PREFIX + "DATA_FILE": str(data_file.resolve()), ENV_PREFIX + "CONTROL": "1" if control else "0"}
    for field, value in msgspec.structs.asdict(config).items():
        env[ENV_PREFIX + field.upper()] = "" if value is None else str(value)
    return env


def serve_simulator(*, host: str, port: int, config: SimulatorConfig, data_file: Path, control: bool) -> None:
    """Serve the simulator with granian (one worker: the dice and the config live in its memory)
    until SIGINT/SIGTERM."""
    from granian import Granian
    from granian.constants import Interfaces

    config = validate_config(config)
    os.environ.update(simulator_env(config, data_file=data_file, control=control))
    Granian(
        f"{__name__}:create_simulator_app_from_env",
        factory=True,
        interface=Interfaces.ASGI,
        address=host,
        port=port,
        workers=1,
        log_access=False,
        # A simulated hang must not hold up a shutdown for a minute.
        workers_kill_timeout=5,
    ).serve()
