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
    movement per line of a paid order, processed or cancelled after payment; none for others)."""
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
        group by o.id, o.status, o.payment_status, oi.product_id
        having count(m.id) <> case when o.payment_status = 'succeeded' then 1 else 0 end
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
    """Invariant 4, charges: every paid order (processed, or cancelled after payment) has exactly
    one succeeded charge for its total; no other order holds a succeeded charge."""
    succeeded: dict[int, list[int]] = {}
    for reference, status, amount in charges:
        if status == "succeeded":
            succeeded.setdefault(int(reference), []).append(amount)
    orders = dict(
        sql.execute(
            "select id, case when payment_status = 'succeeded' then 'processed' else status end from orders"
        ).fetchall()
    )
    totals = dict(sql.execute("select id, total_cents from orders").fetchall())
    for order_id, status in orders.items():
        paid = succeeded.get(order_id, [])
        if status == "processed":
            assert paid == [totals[order_id]], f"order {order_id} processed with charges {paid}"
        else:
            assert paid == [], f"order {order_id} is {status} but holds succeeded charges {paid}"
    assert set(succeeded) <= set(orders), "charges for unknown orders"


def simulator_refunds(data_file: Any) -> list[tuple[str, str, int, str]]:
    """(idempotency_key, charge_id, amount_cents, status) of every refund the simulator recorded."""
    import sqlite3

    with sqlite3.connect(data_file) as conn:
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute("select idempotency_key, charge_id, amount_cents, status from refunds")
        ]


def check_refunds(sql: Any, provider: list[tuple[str, str, int, str]]) -> None:
    """Invariant 4, refunds: each succeeded refund has exactly one succeeded provider refund, for
    its amount and of its order's charge; no other provider refund succeeded; an order's
    succeeded refunds never exceed its charge, and its refunded_cents and refund_status follow."""
    from invorder.payments.gateway import refund_key

    made: dict[str, list[tuple[str, int]]] = {}
    for key, charge_id, amount, status in provider:
        if status == "succeeded":
            made.setdefault(key, []).append((charge_id, amount))
    ours = sql.execute(
        "select r.id, r.created_at, r.status, r.amount_cents, o.charge_id"
        " from refunds r join orders o on o.id = r.order_id"
    ).fetchall()
    keys = set()
    for refund_id, created_at, status, amount, charge_id in ours:
        key = refund_key(refund_id, created_at)
        keys.add(key)
        assert status in ("succeeded", "failed"), f"refund {refund_id} is {status}"
        expected = [(charge_id, amount)] if status == "succeeded" else []
        assert made.get(key, []) == expected, f"refund {refund_id} ({status}) holds {made.get(key)} at the provider"
    assert set(made) <= keys, f"provider refunds invorder does not know: {set(made) - keys}"
    wrong = sql.execute(
        """
        select o.id, o.total_cents, o.refunded_cents, o.refund_status, coalesce(r.sum, 0)
        from orders o
        left join (
            select order_id, sum(amount_cents) as sum from refunds where status = 'succeeded' group by order_id
        ) r on r.order_id = o.id
        where o.refunded_cents <> coalesce(r.sum, 0) or o.refunded_cents > o.total_cents
            or o.refund_status <> case when o.refunded_cents = 0 then 'none'
                when o.refunded_cents = o.total_cents then 'refunded' else 'partially_refunded' end
        """
    ).fetchall()
    assert wrong == [], f"orders whose refunded amount is off: {wrong[:10]}"


def check_after_payment(sql: Any) -> None:
    """Invariant 8: each item's counters are what its fulfillments and refunds say, within their
    bounds; each restocked item of a refund is exactly one restock ledger row; and each order's
    fulfillment_status follows its items."""
    wrong_counts = sql.execute(
        """
        select oi.order_id, oi.product_id
        from order_items oi
        left join lateral (
            select coalesce(sum(fi.quantity), 0) as shipped
            from fulfillment_items fi join fulfillments f on f.id = fi.fulfillment_id
            where f.order_id = oi.order_id and fi.product_id = oi.product_id
        ) f on true
        left join lateral (
            select
                coalesce(sum(ri.quantity) filter (where r.status <> 'failed'), 0) as refunded,
                coalesce(sum(ri.quantity) filter (where ri.restock = 'cancel'), 0) as cancelled,
                coalesce(sum(ri.quantity) filter (where ri.restock = 'return'), 0) as returned
            from refund_items ri join refunds r on r.id = ri.refund_id
            where r.order_id = oi.order_id and ri.product_id = oi.product_id
        ) r on true
        where oi.fulfilled_quantity <> f.shipped or oi.refunded_quantity <> r.refunded
            or oi.cancelled_quantity <> r.cancelled or oi.returned_quantity <> r.returned
            or oi.refunded_quantity > oi.quantity
            or oi.fulfilled_quantity + oi.cancelled_quantity > oi.quantity
            or oi.returned_quantity > oi.fulfilled_quantity
        """
    ).fetchall()
    assert wrong_counts == [], f"order items whose counters are off: {wrong_counts[:10]}"
    wrong_restocks = sql.execute(
        """
        select coalesce(ri.refund_id, m.refund_id), coalesce(ri.product_id, m.product_id), ri.units, m.moves, m.delta
        from (
            select refund_id, product_id, sum(quantity) as units
            from refund_items where restock <> 'none' group by refund_id, product_id
        ) ri
        full join (
            select refund_id, product_id, count(*) as moves, sum(delta) as delta
            from stock_movements where kind = 'restock' group by refund_id, product_id
        ) m on m.refund_id = ri.refund_id and m.product_id = ri.product_id
        where ri.units is null or m.moves is null or m.moves <> 1 or m.delta <> ri.units
        """
    ).fetchall()
    assert wrong_restocks == [], f"restocks not written exactly once: {wrong_restocks[:10]}"
    wrong_status = sql.execute(
        """
        select o.id, o.fulfillment_status
        from orders o join order_items oi on oi.order_id = o.id
        group by o.id, o.fulfillment_status
        having o.fulfillment_status <> case
            when sum(oi.fulfilled_quantity) = 0 then 'unfulfilled'
            when sum(oi.quantity - oi.fulfilled_quantity - oi.cancelled_quantity) = 0 then 'fulfilled'
            else 'partially_fulfilled' end
        """
    ).fetchall()
    assert wrong_status == [], f"orders whose fulfillment_status is off: {wrong_status[:10]}"


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
