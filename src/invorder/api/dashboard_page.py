"""The dashboard's HTML: a snapshot as one self-contained page (inline CSS and SVG bars, no script, no
external asset) that reloads itself every `refresh` seconds; key numbers carry a stable `data-testid`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from invorder.api.markup import Markup, render, tag
from invorder.ops.dashboard import LIST_LIMIT, DashboardSnapshot, LowStockRow, OrdersMinuteRow
from invorder.queue.admin import FailureRow, QueueDepthRow, StuckJobRow, ThroughputRow, WorkerRow

ORDER_STATUSES = ("pending", "reserved", "processed", "failed", "cancelled")
QUEUE_COLUMNS = ("ready", "scheduled", "running", "dead", "cancelled")
MAX_ERROR_CHARS = 2000
# Jobs done over this many of the latest minutes (the current one included) make the headline rate.
RATE_MINUTES = 5
# A refund pending for longer is one `invorder reconcile` lists (SPEC.md, "After payment").
REFUND_PENDING_S = 3600

COLORS = {
    "processed": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#9e9e9e",
    "done": "#1565c0",
    "failed attempts": "#ef6c00",
    "dead": "#6a1b9a",
}

CSS = Markup("""
:root { color-scheme: light; --muted: #5f6368; --line: #dadce0; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 32px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: #202124; background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
.muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(135px, 1fr)); gap: 10px; margin: 14px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
.card.bad .value { color: #c62828; }
.card.good .value { color: #2e7d32; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 14px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
svg { width: 100%; height: auto; display: block; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; margin-top: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.num, th.num { text-align: right; }
.alive { color: #2e7d32; font-weight: 600; }
.gone { color: #c62828; font-weight: 600; }
pre.error { margin: 0; white-space: pre-wrap; word-break: break-word; max-height: 8em; overflow: auto;
            font: 12px/1.35 ui-monospace, SFMono-Regular, Menlo, monospace; color: #b71c1c; }
.wide { grid-column: 1 / -1; }
""")


def render_dashboard(snapshot: DashboardSnapshot, *, refresh: int, now: datetime) -> str:
    stats = snapshot.stats
    body = [
        _header(now, refresh),
        _cards(snapshot),
        tag(
            "div",
            _section(
                "Orders finished per minute (last 30 min)",
                _orders_chart(snapshot.orders_per_minute),
                testid="orders-over-time",
            ),
            _section(
                "Jobs per minute (all kinds, last 30 min)",
                _jobs_chart(snapshot.jobs_per_minute),
                testid="throughput",
            ),
            _section("Queues", _queues_table(stats.queues), testid="queues"),
            _section("Workers (seen in the last 10 min)", _workers_table(stats.workers, now), testid="workers"),
            _section(
                f"Low stock (at or below the reorder point, or out of stock; lowest first, at most {LIST_LIMIT})",
                _low_stock_table(snapshot.low_stock),
                testid="low-stock",
                wide=True,
            ),
            _section(
                "Recent failures (latest attempt failed: retrying or dead)",
                _failures_table(stats.recent_failures, now),
                testid="failures",
                wide=True,
            ),
            _section("Stuck jobs", _stuck_table(stats.stuck), testid="stuck", wide=True),
            class_="grid",
        ),
    ]
    return _page(body, refresh=refresh)


def render_unavailable(reason: str, *, refresh: int, now: datetime) -> str:
    """The page when the database does not answer: it keeps reloading until it does."""
    body = [
        _header(now, refresh),
        tag("section", tag("h2", "Database unavailable"), tag("p", reason, data_testid="unavailable")),
    ]
    return _page(body, refresh=refresh)


def _page(body: Sequence[Markup], *, refresh: int) -> str:
    head = tag(
        "head",
        tag("meta", charset="utf-8"),
        tag("meta", name="viewport", content="width=device-width, initial-scale=1"),
        tag("meta", http_equiv="refresh", content=str(refresh)) if refresh > 0 else None,
        tag("title", "invorder dashboard"),
        tag("style", CSS),
    )
    return "<!doctype html>\n" + tag("html", head, tag("body", body), lang="en")


def _header(now: datetime, refresh: int) -> Markup:
    reload = f"reloads every {refresh} s" if refresh > 0 else "does not reload"
    return tag(
        "header",
        tag("h1", "invorder dashboard"),
        tag(
            "span",
            "updated ",
            tag("time", _clock(now), datetime=now.isoformat(), data_testid="updated-at"),
            f" UTC · {reload} (?refresh=S; 0 stops it)",
            class_="muted",
        ),
    )


def _cards(snapshot: DashboardSnapshot) -> Markup:
    stats = snapshot.stats
    # In flight: how many now. Final: how many reached it in the last hour (counting every order
    # ever finished would scan the whole table on each reload).
    by_status = {
        row.status: row.in_flight if row.status in ("pending", "reserved") else row.finished_last_hour
        for row in stats.orders
    }
    alive = sum(w.alive for w in stats.workers)
    ready = sum(q.ready for q in stats.queues)
    dead = sum(q.dead for q in stats.queues)
    oldest = max((q.oldest_ready_age_s for q in stats.queues), default=0.0)
    recent = snapshot.jobs_per_minute[-RATE_MINUTES:]
    this_minute = snapshot.jobs_per_minute[-1].done if snapshot.jobs_per_minute else 0
    cards = [
        _card(
            f"Orders {status}",
            by_status.get(status, 0),
            testid=f"orders-{status}",
            sub="in flight now" if status in ("pending", "reserved") else "in the last hour",
            tone=_tone(status, by_status.get(status, 0)),
        )
        for status in ORDER_STATUSES
    ]
    cards += [_to_ship_card(snapshot), *_refund_cards(snapshot)]
    cards += [
        _card(
            "Workers alive",
            alive,
            testid="workers-alive",
            sub=f"{len(stats.workers)} seen in 10 min",
            tone="bad" if alive == 0 else "good",
        ),
        _card("Jobs ready", ready, testid="jobs-ready", sub=f"oldest waits {_age(oldest)}"),
        _card("Jobs dead", dead, testid="jobs-dead", sub="wait for an operator", tone="bad" if dead else ""),
        _card(
            f"Jobs done ({RATE_MINUTES} min)",
            sum(m.done for m in recent),
            testid="throughput-5m",
            sub=render("this minute so far: ", tag("span", this_minute, data_testid="throughput-last-minute")),
        ),
    ]
    hooks = stats.webhooks
    cards += [
        _card(
            "Webhook deliveries waiting",
            hooks.pending,
            testid="webhooks-pending",
            sub=f"{hooks.delivered_last_hour} delivered in the last hour",
        ),
        _card(
            "Webhook attempts failed",
            hooks.failed_last_hour,
            testid="webhooks-failed",
            sub="in the last hour (retried with backoff)",
            tone="bad" if hooks.failed_last_hour else "",
        ),
        _card(
            "Webhook endpoints disabled",
            hooks.disabled_endpoints,
            testid="webhooks-disabled",
            sub=f"{hooks.enabled_endpoints} enabled (a 410 or 3 days of failures disables one)",
            tone="bad" if hooks.disabled_endpoints else "",
        ),
    ]
    running = {q.kind: q.running for q in stats.queues}
    cards += [
        _kinds_card(
            "Job kinds paused",
            [p.kind for p in stats.paused],
            testid="kinds-paused",
            none="none: every kind is claimed",
        ),
        _kinds_card(
            "Job kinds limited",
            [f"{x.kind}: {running.get(x.kind, 0)}/{x.max_running} running" for x in stats.limits],
            testid="kinds-limited",
            none="none: no kind has a limit on jobs running at once",
        ),
    ]
    return tag("div", cards, class_="cards")


def _to_ship_card(snapshot: DashboardSnapshot) -> Markup:
    """Processed orders with units left to ship, split by whether any shipped yet."""
    ship = snapshot.stats.to_ship
    waiting = ship.unfulfilled + ship.partially_fulfilled
    return _card(
        "Orders to ship",
        waiting,
        testid="to-ship",
        sub=render(
            tag("span", ship.unfulfilled, data_testid="to-ship-unfulfilled"),
            " unfulfilled, ",
            tag("span", ship.partially_fulfilled, data_testid="to-ship-partially-fulfilled"),
            " partially",
            f"; oldest paid {_age(ship.oldest_age_s)} ago" if waiting else "",
        ),
    )


def _refund_cards(snapshot: DashboardSnapshot) -> list[Markup]:
    """Refunds pending now (bad once one waits as long as reconcile lists it), and the last hour's
    succeeded, failed and amount given back."""
    refunds = snapshot.stats.refunds
    stale = refunds.pending > 0 and refunds.oldest_pending_age_s > REFUND_PENDING_S
    return [
        _card(
            "Refunds pending",
            refunds.pending,
            testid="refunds-pending",
            sub=f"oldest waits {_age(refunds.oldest_pending_age_s)}"
            if refunds.pending
            else "none waits for the provider",
            tone="bad" if stale else "",
        ),
        _card("Refunds succeeded", refunds.succeeded_last_hour, testid="refunds-succeeded", sub="in the last hour"),
        _card(
            "Refunds failed",
            refunds.failed_last_hour,
            testid="refunds-failed",
            sub="in the last hour (refused by the provider)",
            tone="bad" if refunds.failed_last_hour else "",
        ),
        _card(
            "Amount refunded",
            _money(refunds.refunded_cents_last_hour),
            testid="refunds-amount",
            sub=f"in the last hour ({refunds.refunded_cents_last_hour} cents)",
        ),
    ]


def _tone(status: str, count: int) -> str:
    if status == "processed":
        return "good"
    return "bad" if status == "failed" and count else ""


def _card(label: str, value: int | str, *, testid: str, sub: str | Markup = "", tone: str = "") -> Markup:
    return tag(
        "div",
        tag("div", label, class_="label"),
        tag("div", value, class_="value", data_testid=testid),
        tag("div", sub, class_="sub"),
        class_=f"card {tone}".strip(),
    )


def _kinds_card(label: str, kinds: list[str], *, testid: str, none: str) -> Markup:
    """How many job kinds an operator set apart (paused, limited), listed; "bad" while there are any."""
    return _card(label, len(kinds), testid=testid, sub=", ".join(kinds) or none, tone="bad" if kinds else "")


def _section(title: str, *content: Markup, testid: str, wide: bool = False) -> Markup:
    return tag("section", tag("h2", title), content, data_testid=testid, class_="wide" if wide else None)


def _orders_chart(rows: list[OrdersMinuteRow]) -> Markup:
    names = ("processed", "failed", "cancelled")
    series = [(row.minute, (row.processed, row.failed, row.cancelled)) for row in rows]
    return _stacked_bars(series, names, unit="orders", testid_prefix="orders-finished")


def _jobs_chart(rows: list[ThroughputRow]) -> Markup:
    names = ("done", "failed attempts", "dead")
    series = [(row.minute, (row.done, row.failed, row.dead)) for row in rows]
    return _stacked_bars(series, names, unit="jobs", testid_prefix="jobs")


def _stacked_bars(
    series: Sequence[tuple[datetime, tuple[int, ...]]], names: tuple[str, ...], *, unit: str, testid_prefix: str
) -> Markup:
    """One bar per minute, its parts stacked in the order of `names`, and a legend with each
    part's total over the window."""
    width, height, top, bottom = 720, 150, 14, 18
    plot = height - top - bottom
    peak = max((sum(values) for _, values in series), default=0)
    scale = plot / max(peak, 1)
    slot = width / max(len(series), 1)
    bars = []
    for n, (minute, values) in enumerate(series):
        y = float(top + plot)
        parts = []
        for name, value in zip(names, values, strict=True):
            if value <= 0:
                continue
            h = value * scale
            y -= h
            parts.append(
                tag(
                    "rect",
                    x=f"{n * slot + 1:.1f}",
                    y=f"{y:.1f}",
                    width=f"{slot - 2:.1f}",
                    height=f"{h:.1f}",
                    fill=COLORS[name],
                )
            )
        detail = ", ".join(f"{value} {name}" for name, value in zip(names, values, strict=True))
        hover = tag("rect", x=f"{n * slot:.1f}", y=str(top), width=f"{slot:.1f}", height=str(plot), fill="transparent")
        bars.append(tag("g", tag("title", f"{_clock(minute, seconds=False)} UTC: {detail}"), hover, parts))
    axis = [
        tag("line", x1="0", y1=str(top + plot), x2=str(width), y2=str(top + plot), stroke="#dadce0"),
        tag("text", f"{peak} {unit}/min", x="0", y="10", font_size="10", fill="#5f6368"),
    ]
    if series:
        axis += [
            tag("text", _clock(series[0][0], seconds=False), x="0", y=str(height - 4), font_size="10", fill="#5f6368"),
            tag("text", "now", x=str(width), y=str(height - 4), font_size="10", fill="#5f6368", text_anchor="end"),
        ]
    svg = tag(
        "svg",
        axis,
        bars,
        viewBox=f"0 0 {width} {height}",
        role="img",
        aria_label=f"{unit} per minute",
        xmlns="http://www.w3.org/2000/svg",
    )
    legend = tag(
        "div",
        [
            tag(
                "span",
                tag("span", class_="swatch", style=f"background:{COLORS[name]}"),
                f"{name}: ",
                tag(
                    "b", sum(values[i] for _, values in series), data_testid=f"{testid_prefix}-{name.replace(' ', '-')}"
                ),
            )
            for i, name in enumerate(names)
        ],
        class_="legend",
    )
    return render(svg, legend)


def _queues_table(queues: list[QueueDepthRow]) -> Markup:
    if not queues:
        return tag("p", "No jobs in the queue (finished jobs are deleted).", class_="muted")
    head = tag(
        "tr",
        tag("th", "Kind"),
        [tag("th", c.capitalize(), class_="num") for c in QUEUE_COLUMNS],
        tag("th", "Oldest ready waits", class_="num"),
    )
    rows = [
        tag(
            "tr",
            tag("td", q.kind),
            [tag("td", getattr(q, c), class_="num", data_testid=f"queue-{c}-{q.kind}") for c in QUEUE_COLUMNS],
            tag("td", _age(q.oldest_ready_age_s), class_="num", data_testid=f"queue-oldest-{q.kind}"),
        )
        for q in queues
    ]
    return tag("table", tag("thead", head), tag("tbody", rows))


def _workers_table(workers: list[WorkerRow], now: datetime) -> Markup:
    if not workers:
        return tag("p", "No worker has sent a heartbeat in the last 10 minutes.", class_="gone")
    head = tag(
        "tr",
        [tag("th", h) for h in ("Worker", "State", "Started", "Last seen")],
        [tag("th", h, class_="num") for h in ("Concurrency", "In hand", "Done", "Failed")],
    )
    rows = []
    for w in workers:
        if w.alive:
            state = tag("span", "alive", class_="alive")
        elif w.stopped_at is not None:
            state = tag("span", "stopped", class_="muted")
        else:
            state = tag("span", "gone (no heartbeat)", class_="gone")
        rows.append(
            tag(
                "tr",
                tag("td", w.worker_id),
                tag("td", state),
                tag("td", _clock(w.started_at), title=w.started_at.isoformat()),
                tag("td", f"{_age((now - w.last_seen_at).total_seconds())} ago"),
                [tag("td", v, class_="num") for v in (w.concurrency, w.jobs_in_hand, w.jobs_done, w.jobs_failed)],
                data_testid="worker",
            )
        )
    return tag("table", tag("thead", head), tag("tbody", rows))


def _low_stock_table(rows: list[LowStockRow]) -> Markup:
    if not rows:
        return tag("p", "No product is low on stock.", class_="muted", data_testid="nothing-low")
    head = tag(
        "tr",
        [tag("th", h) for h in ("Product", "Name")],
        [tag("th", h, class_="num") for h in ("On hand", "Reserved", "Available", "Reorder point")],
    )
    body = [
        tag(
            "tr",
            tag("td", r.product_id),
            tag("td", r.name),
            tag("td", r.on_hand, class_="num"),
            tag("td", r.reserved, class_="num"),
            tag(
                "td",
                r.available,
                class_="num gone" if r.available == 0 else "num",
                data_testid=f"low-stock-available-{r.product_id}",
            ),
            tag(
                "td",
                "none" if r.reorder_point is None else r.reorder_point,
                class_="num",
                data_testid=f"low-stock-reorder-point-{r.product_id}",
            ),
            data_testid="low-stock-product",
        )
        for r in rows
    ]
    return tag("table", tag("thead", head), tag("tbody", body))


def _failures_table(failures: list[FailureRow], now: datetime) -> Markup:
    if not failures:
        return tag("p", "No failed job.", class_="muted")
    head = tag("tr", [tag("th", h) for h in ("When", "Job", "Kind", "State", "Attempts", "Error")])
    rows = [
        tag(
            "tr",
            tag("td", f"{_age((now - f.updated_at).total_seconds())} ago", title=f.updated_at.isoformat()),
            tag("td", f.id),
            tag("td", f.kind),
            tag("td", "dead" if f.status == "dead" else "retrying"),
            tag("td", f"{f.attempts}/{f.max_attempts}"),
            tag("td", tag("pre", _shorten(f.last_error or ""), class_="error", data_testid="failure-error")),
            data_testid="failure",
        )
        for f in failures
    ]
    return tag("table", tag("thead", head), tag("tbody", rows))


def _stuck_table(stuck: list[StuckJobRow]) -> Markup:
    if not stuck:
        return tag("p", "Nothing stuck.", class_="muted", data_testid="nothing-stuck")
    head = tag("tr", [tag("th", h) for h in ("Job", "Kind", "Status", "Stuck for", "Reason", "Last error")])
    rows = [
        tag(
            "tr",
            tag("td", s.id),
            tag("td", s.kind),
            tag("td", s.status),
            tag("td", _age(s.stuck_for_s)),
            tag("td", s.reason),
            tag("td", tag("pre", _shorten(s.last_error or ""), class_="error")),
        )
        for s in stuck
    ]
    return tag("table", tag("thead", head), tag("tbody", rows))


def _clock(moment: datetime, *, seconds: bool = True) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S" if seconds else "%H:%M")


def _age(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 90:
        return f"{s}s"
    if s < 90 * 60:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _money(cents: int) -> str:
    """An amount in cents as whole units and cents, the units grouped by thousands."""
    return f"{cents // 100:,}.{cents % 100:02d}"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"
