"""The payment simulator as a real process, driven through PaymentsClient: charges, idempotency, faults, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import pytest

from invorder.payments.client import Charge, PaymentOutcomeUnknown, PaymentRejected, PaymentsClient
from invorder.payments.simulator import SimulatorConfig
from tests.support.processes import free_port, wait_until

T = TypeVar("T")

_SERVE = """
import sys
from pathlib import Path
import msgspec
from invorder.payments.simulator import SimulatorConfig, serve_simulator
serve_simulator(
    host="127.0.0.1",
    port=int(sys.argv[1]),
    config=msgspec.json.decode(sys.argv[2], type=SimulatorConfig),
    data_file=Path(sys.argv[3]),
    control=sys.argv[4] == "1",
)
"""


@dataclass
class SimProcess:
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the simulator and granian's worker with it (they share a process group)."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def start_simulator(data_file: Path, config: SimulatorConfig, *, control: bool) -> SimProcess:
    port = free_port()
    args = [str(port), msgspec.json.encode(config).decode(), str(data_file), "1" if control else "0"]
    log_path = data_file.with_name(f"sim-{time.time_ns()}.log")
    with log_path.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-c", _SERVE, *args],
            env={**os.environ, "INVORDER_LOG_LEVEL": "WARNING"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sim = SimProcess(popen, f"http://127.0.0.1:{port}", log_path)

    def ready() -> bool:
        if popen.poll() is not None:
            raise AssertionError(f"simulator exited early:\n{sim.log()}")
        try:
            return httpx.get(sim.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=20, what="the payment simulator to answer /healthz")
    except BaseException:
        sim.kill()
        raise
    return sim


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def new_key() -> str:
    return "key-" + uuid.uuid4().hex


def records_for_key(url: str, key: str) -> list[dict[str, Any]]:
    """The simulator's own record for `key`, read without going through PaymentsClient."""
    response = httpx.get(url + "/v1/charges", params={"idempotency_key": key}, timeout=5)
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def charge(
    url: str,
    key: str,
    amount_cents: int = 1250,
    reference: str = "order-1",
    *,
    connect_timeout_s: float = 2.0,
    read_timeout_s: float = 5.0,
) -> Charge:
    async with PaymentsClient(url, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s) as client:
        return await client.charge(idempotency_key=key, amount_cents=amount_cents, reference=reference)


async def find(url: str, key: str) -> Charge | None:
    async with PaymentsClient(url) as client:
        return await client.find_charge(idempotency_key=key)


@pytest.fixture(scope="module")
def controlled_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    data_file = tmp_path_factory.mktemp("sim") / "charges.sqlite3"
    sim = start_simulator(data_file, SimulatorConfig(seed=7), control=True)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sim(controlled_sim: SimProcess) -> str:
    """The shared controllable simulator, with every fault switched off; its URL."""
    put_config(
        controlled_sim.url,
        latency_ms=0,
        decline_rate=0,
        error_rate=0,
        timeout_rate=0,
        lost_response_rate=0,
        refund_failure_rate=0,
    )
    return controlled_sim.url


@pytest.fixture(scope="module")
def declining_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A simulator started with decline_rate=1 and no run-time control."""
    data_file = tmp_path_factory.mktemp("sim") / "charges.sqlite3"
    sim = start_simulator(data_file, SimulatorConfig(decline_rate=1.0), control=False)
    try:
        yield sim.url
    finally:
        sim.stop()


def put_config(url: str, **changes: float) -> dict[str, Any]:
    response = httpx.put(url + "/_sim/config", json=changes, timeout=5)
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()
    return config


def test_charge_succeeds_and_is_recorded(sim: str) -> None:
    key = new_key()
    made = run(charge(sim, key, amount_cents=999, reference="order-a"))
    assert (made.status, made.amount_cents, made.reference, made.idempotency_key) == (
        "succeeded",
        999,
        "order-a",
        key,
    )
    assert made.succeeded
    assert run(find(sim, key)) == made


def test_simulator_started_with_decline_rate_one_declines(declining_sim: str) -> None:
    made = run(charge(declining_sim, new_key()))
    assert made.status == "declined"
    assert not made.succeeded


def test_replayed_key_returns_the_first_charge_and_keeps_one_record(sim: str) -> None:
    key = new_key()
    first = run(charge(sim, key))
    again = httpx.post(
        sim + "/v1/charges",
        json={"amount_cents": 1250, "reference": "order-1"},
        headers={"Idempotency-Key": key},
        timeout=5,
    )
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.id
    assert run(charge(sim, key)).id == first.id
    assert [r["id"] for r in records_for_key(sim, key)] == [first.id]


def test_twenty_concurrent_charges_with_one_key_make_one_charge(sim: str) -> None:
    # Latency holds every request past the "already recorded?" check, so they race to insert.
    put_config(sim, latency_ms=50)
    key = new_key()

    async def race() -> list[Charge]:
        async with PaymentsClient(sim) as client:
            calls = [client.charge(idempotency_key=key, amount_cents=500, reference="order-race") for _ in range(20)]
            return list(await asyncio.gather(*calls))

    charges = run(race())
    assert {c.id for c in charges} == {charges[0].id}
    assert [r["id"] for r in records_for_key(sim, key)] == [charges[0].id]


def test_key_reused_with_another_amount_is_rejected(sim: str) -> None:
    key = new_key()
    first = run(charge(sim, key, amount_cents=100))
    with pytest.raises(PaymentRejected) as refused:
        run(charge(sim, key, amount_cents=200))
    assert refused.value.status_code == 422
    assert [r["id"] for r in records_for_key(sim, key)] == [first.id]


def test_charge_without_idempotency_key_is_400_problem(sim: str) -> None:
    response = httpx.post(sim + "/v1/charges", json={"amount_cents": 1, "reference": "r"}, timeout=5)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {"type", "title", "status", "detail"} <= response.json().keys()


def test_charges_for_reference_lists_every_charge_of_that_reference(sim: str) -> None:
    reference = "order-" + uuid.uuid4().hex
    made = [run(charge(sim, new_key(), reference=reference)) for _ in range(3)]

    async def lookup() -> tuple[list[Charge], list[Charge]]:
        async with PaymentsClient(sim) as client:
            return await client.charges_for_reference(reference), await client.charges_for_reference("nothing-here")

    found, none = run(lookup())
    assert sorted(c.id for c in found) == sorted(c.id for c in made)
    assert none == []


def test_provider_error_is_unknown_outcome_and_charges_nothing(sim: str) -> None:
    put_config(sim, error_rate=1)
    key = new_key()
    with pytest.raises(PaymentOutcomeUnknown):
        run(charge(sim, key))
    assert run(find(sim, key)) is None


def test_lost_response_is_unknown_outcome_but_the_charge_is_recorded(sim: str) -> None:
    put_config(sim, lost_response_rate=1)
    key = new_key()
    with pytest.raises(PaymentOutcomeUnknown):
        run(charge(sim, key, amount_cents=4321))
    recorded = run(find(sim, key))
    assert recorded is not None
    assert (recorded.amount_cents, recorded.status) == (4321, "succeeded")
    # A retry with the same key is a replay: no dice, the recorded charge comes back.
    assert run(charge(sim, key, amount_cents=4321)).id == recorded.id
    assert len(records_for_key(sim, key)) == 1


def test_hang_is_unknown_outcome_after_the_client_read_timeout(sim: str) -> None:
    put_config(sim, timeout_rate=1)
    key = new_key()
    started = time.monotonic()
    with pytest.raises(PaymentOutcomeUnknown):
        run(charge(sim, key, read_timeout_s=0.5))
    assert time.monotonic() - started < 3
    assert run(find(sim, key)) is None


def test_unreachable_provider_is_unknown_outcome() -> None:
    with pytest.raises(PaymentOutcomeUnknown):
        run(charge(f"http://127.0.0.1:{free_port()}", new_key(), connect_timeout_s=1))


def test_put_config_changes_behaviour_at_run_time(sim: str) -> None:
    assert run(charge(sim, new_key())).status == "succeeded"
    config = put_config(sim, decline_rate=1, latency_ms=20)
    assert config == {
        "latency_ms": 20,
        "decline_rate": 1.0,
        "error_rate": 0.0,
        "timeout_rate": 0.0,
        "lost_response_rate": 0.0,
        "refund_failure_rate": 0.0,
        "seed": 7,
    }
    assert httpx.get(sim + "/_sim/config", timeout=5).json() == config
    assert run(charge(sim, new_key())).status == "declined"
    put_config(sim, decline_rate=0)
    assert run(charge(sim, new_key())).status == "succeeded"


def test_put_config_refuses_a_rate_above_one(sim: str) -> None:
    response = httpx.put(sim + "/_sim/config", json={"error_rate": 1.5}, timeout=5)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(sim + "/_sim/config", timeout=5).json()["error_rate"] == 0.0


def test_sim_config_is_404_without_control(declining_sim: str) -> None:
    assert httpx.get(declining_sim + "/_sim/config", timeout=5).status_code == 404
    assert httpx.put(declining_sim + "/_sim/config", json={"decline_rate": 0}, timeout=5).status_code == 404


def test_record_survives_sigkill_and_restart(tmp_path: Path) -> None:
    data_file = tmp_path / "charges.sqlite3"
    key = new_key()
    sim = start_simulator(data_file, SimulatorConfig(), control=False)
    try:
        made = run(charge(sim.url, key, amount_cents=777))
    finally:
        sim.kill()
    sim = start_simulator(data_file, SimulatorConfig(), control=False)
    try:
        assert run(find(sim.url, key)) == made
        assert run(charge(sim.url, key, amount_cents=777)).id == made.id
        assert [r["id"] for r in records_for_key(sim.url, key)] == [made.id]
    finally:
        sim.stop()


# Refunds (POST /v1/refunds): the provider's side of invorder's refunds.


def charged(url: str, amount_cents: int = 1000) -> str:
    """A new succeeded charge's id."""
    made = run(charge(url, new_key(), amount_cents=amount_cents, reference=f"order-{uuid.uuid4().hex}"))
    assert made.status == "succeeded"
    return made.id


def refund(url: str, charge_id: str, amount_cents: int, key: str | None = None) -> httpx.Response:
    return httpx.post(
        url + "/v1/refunds",
        json={"charge_id": charge_id, "amount_cents": amount_cents},
        headers={"Idempotency-Key": key or new_key()},
        timeout=5,
    )


def refunds_of(url: str, **filters: str) -> list[dict[str, Any]]:
    response = httpx.get(url + "/v1/refunds", params=filters, timeout=5)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def test_refund_succeeds_and_is_found_by_key_and_by_charge(sim: str) -> None:
    charge_id, key = charged(sim), new_key()
    made = refund(sim, charge_id, 400, key)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["charge_id"], body["amount_cents"], body["status"], body["failure_reason"]) == (
        charge_id,
        400,
        "succeeded",
        None,
    )
    assert body["id"].startswith("re_")
    assert refunds_of(sim, idempotency_key=key) == [body] == refunds_of(sim, charge_id=charge_id)


def test_replayed_refund_key_returns_the_first_refund_and_another_body_is_422(sim: str) -> None:
    charge_id, key = charged(sim), new_key()
    first = refund(sim, charge_id, 300, key).json()
    again = refund(sim, charge_id, 300, key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true" and again.json() == first
    assert refund(sim, charge_id, 301, key).status_code == 422
    assert len(refunds_of(sim, charge_id=charge_id)) == 1


def test_refunds_never_exceed_the_charge_and_a_refused_one_records_nothing(sim: str) -> None:
    charge_id = charged(sim, amount_cents=1000)
    assert refund(sim, charge_id, 600).status_code == 201
    too_much = refund(sim, charge_id, 401)
    assert too_much.status_code == 422, too_much.text
    assert too_much.headers["content-type"].startswith("application/problem+json")
    assert refund(sim, charge_id, 400).status_code == 201
    assert refund(sim, charge_id, 1).status_code == 422
    assert sum(r["amount_cents"] for r in refunds_of(sim, charge_id=charge_id)) == 1000


def test_concurrent_refunds_of_one_charge_never_exceed_it(sim: str) -> None:
    charge_id = charged(sim, amount_cents=10)

    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=sim, timeout=10) as client:
            answers = await asyncio.gather(
                *[
                    client.post(
                        "/v1/refunds",
                        json={"charge_id": charge_id, "amount_cents": 1},
                        headers={"Idempotency-Key": new_key()},
                    )
                    for _ in range(20)
                ]
            )
        return [a.status_code for a in answers]

    statuses = run(race())
    assert sorted(statuses) == [201] * 10 + [422] * 10
    assert len(refunds_of(sim, charge_id=charge_id)) == 10


def test_refund_of_an_unknown_or_declined_charge_is_422(sim: str) -> None:
    assert refund(sim, "ch_nonexistent", 1).status_code == 422
    put_config(sim, decline_rate=1)
    declined = run(charge(sim, new_key()))
    assert declined.status == "declined"
    assert refund(sim, declined.id, 1).status_code == 422
    assert refunds_of(sim, charge_id=declined.id) == []


def test_refund_failure_rate_makes_failed_refunds_that_free_their_amount(sim: str) -> None:
    charge_id = charged(sim, amount_cents=500)
    put_config(sim, refund_failure_rate=1)
    failed = refund(sim, charge_id, 500)
    assert failed.status_code == 201
    assert failed.json()["status"] == "failed" and failed.json()["failure_reason"]
    put_config(sim, refund_failure_rate=0)
    assert refund(sim, charge_id, 500).json()["status"] == "succeeded"  # the failed one took nothing


def test_refund_faults_error_refunds_nothing_and_lost_answer_records_it(sim: str) -> None:
    charge_id, key = charged(sim), new_key()
    put_config(sim, error_rate=1)
    assert refund(sim, charge_id, 100, key).status_code == 503
    assert refunds_of(sim, idempotency_key=key) == []
    put_config(sim, error_rate=0, lost_response_rate=1)
    assert refund(sim, charge_id, 100, key).status_code == 502
    [recorded] = refunds_of(sim, idempotency_key=key)
    put_config(sim, lost_response_rate=0)
    replay = refund(sim, charge_id, 100, key)
    assert replay.status_code == 200 and replay.json() == recorded  # the retry finds it, refunds nothing more


def test_refund_without_a_key_or_a_lookup_without_a_filter_is_400(sim: str) -> None:
    no_key = httpx.post(sim + "/v1/refunds", json={"charge_id": charged(sim), "amount_cents": 1}, timeout=5)
    assert no_key.status_code == 400
    assert httpx.get(sim + "/v1/refunds", timeout=5).status_code == 400


def test_client_refunds_once_through_a_lost_answer_and_reads_refusals_as_rejected(sim: str) -> None:
    charge_id, key = charged(sim, amount_cents=700), new_key()

    async def body() -> None:
        async with PaymentsClient(sim) as client:
            put_config(sim, lost_response_rate=1)
            with pytest.raises(PaymentOutcomeUnknown):
                await client.refund(idempotency_key=key, charge_id=charge_id, amount_cents=700)
            put_config(sim, lost_response_rate=0)
            found = await client.find_refund(idempotency_key=key)
            assert found is not None and found.succeeded and found.amount_cents == 700
            again = await client.refund(idempotency_key=key, charge_id=charge_id, amount_cents=700)
            assert again == found
            assert await client.refunds_of_charge(charge_id) == [found]
            assert await client.find_refund(idempotency_key=new_key()) is None
            with pytest.raises(PaymentRejected) as refused:
                await client.refund(idempotency_key=new_key(), charge_id=charge_id, amount_cents=1)
            assert refused.value.status_code == 422

    run(body())
