"""SPEC.md's invariants, checked in SQL against a quiet database."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.processes import LiveProcess


def check_stock_invariants(sql: Any) -> None:
    """Invariants 1-3: 0 <= reserved <= on_hand; reserved = what reserved orders hold;
    on_hand = the sum of the product's ledger."""
    bad_bounds = sql.execute("select product_id from inventory where reserved < 0 or reserved > on_hand").fetchall()
    assert bad_bounds == [], f"reserved out of bounds: {bad_bounds}"
    drift_reserved = sql.execute(
        """
        select i.product_id, i.reserved, coalesce(r.held, 0)
        from inventory i
        left join (
            select oi.product_id, sum(oi.quantity) as held
            from order_items oi join orders o on o.id = oi.order_id
            where o.status = 'reserved'
            group by oi.product_id
        ) r using (product_id)
        where i.reserved <> coalesce(r.held, 0)
        """
    ).fetchall()
    assert drift_reserved == [], f"reserved differs from reserved orders: {drift_reserved}"
    drift_ledger = sql.execute(
        """
        select i.product_id, i.on_hand, m.total
        from inventory i
        join (select product_id, sum(delta) as total from stock_movements group by product_id) m using (product_id)
        where i.on_hand <> m.total
        """
    ).fetchall()
    assert drift_ledger == [], f"on_hand differs from the ledger: {drift_ledger}"


def check_orders_settled(sql: Any) -> None:
    """Invariant 5: every order is final, no job is left, and no effect ran twice (one sale
    movement per processed line, none for other orders)."""
    open_orders = sql.execute(
        "select id, status from orders where status not in ('processed', 'failed', 'cancelled')"
    ).fetchall()
    assert open_orders == [], f"orders not final: {open_orders[:10]}"
    jobs = sql.execute("select id, kind, status, last_error from jobs").fetchall()
    assert jobs == [], f"jobs left: {jobs[:10]}"
    double = sql.execute(
        """
        select o.id, o.status, oi.product_id, count(m.id)
        from orders o
        join order_items oi on oi.order_id = o.id
        left join stock_movements m on m.order_id = o.id and m.product_id = oi.product_id and m.kind = 'sale'
        group by o.id, o.status, oi.product_id
        having count(m.id) <> case when o.status = 'processed' then 1 else 0 end
        """
    ).fetchall()
    assert double == [], f"sale movements do not match processed orders: {double[:10]}"
    sales_match = sql.execute(
        """
        select m.order_id from stock_movements m join order_items oi
          on oi.order_id = m.order_id and oi.product_id = m.product_id
        where m.kind = 'sale' and m.delta <> -oi.quantity
        """
    ).fetchall()
    assert sales_match == [], f"sale movements with the wrong quantity: {sales_match}"


def charges_file(sim: LiveProcess) -> Path:
    """The data file a `payments-sim` process records its charges in."""
    args = sim.popen.args
    assert isinstance(args, list)
    return Path(str(args[args.index("--data-file") + 1]))


def simulator_charges(data_file: Any) -> list[tuple[str, str, int]]:
    """(reference, status, amount_cents) of every charge the payment simulator recorded."""
    import sqlite3

    with sqlite3.connect(data_file) as conn:
        return [tuple(r) for r in conn.execute("select reference, status, amount_cents from charges")]  # type: ignore[misc]


def double_charges(charges: list[tuple[str, str, int]]) -> int:
    """Orders charged more than once (succeeded charges past the first), for the chaos figures."""
    per_order = Counter(reference for reference, status, _ in charges if status == "succeeded")
    return sum(count - 1 for count in per_order.values() if count > 1)


def check_payments(sql: Any, charges: list[tuple[str, str, int]]) -> None:
    """Invariant 4: every processed order has exactly one succeeded charge for its total; no
    other order holds a succeeded charge."""
    succeeded: dict[int, list[int]] = {}
    for reference, status, amount in charges:
        if status == "succeeded":
            succeeded.setdefault(int(reference), []).append(amount)
    orders = dict(sql.execute("select id, status from orders").fetchall())
    totals = dict(sql.execute("select id, total_cents from orders").fetchall())
    for order_id, status in orders.items():
        paid = succeeded.get(order_id, [])
        if status == "processed":
            assert paid == [totals[order_id]], f"order {order_id} processed with charges {paid}"
        else:
            assert paid == [], f"order {order_id} is {status} but holds succeeded charges {paid}"
    assert set(succeeded) <= set(orders), "charges for unknown orders"


def check_order_events(sql: Any) -> None:
    """Invariant 6, for orders: each order has exactly one `order.placed` event, and one event of
    its final status (none while it is not final), and no other order event."""
    wrong = sql.execute(
        """
        select o.id, o.status,
            count(*) filter (where e.type = 'order.placed') as placed,
            count(*) filter (where e.type = 'order.' || o.status) as final,
            count(e.id) as every
        from orders o
        left join events e on e.subject_id = o.id and e.type like 'order.%'
        group by o.id, o.status
        having count(*) filter (where e.type = 'order.placed') <> 1
            or count(*) filter (where e.type = 'order.' || o.status)
                <> case when o.status in ('processed', 'failed', 'cancelled') then 1 else 0 end
            or count(e.id) <> case when o.status in ('processed', 'failed', 'cancelled') then 2 else 1 end
        """
    ).fetchall()
    assert wrong == [], f"orders whose events do not match their changes: {wrong[:10]}"
