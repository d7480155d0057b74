"""`invorder jobs ...`: the job queue's administration, as rich tables (or `--json`)."""

from __future__ import annotations

from datetime import datetime

import click
import msgspec
from rich.console import Console
from rich.table import Table

from invorder.cli.common import (
    actor_option,
    actor_or_default,
    echo_json,
    echo_table,
    json_option,
    rich_console,
    run_with_pool,
    when,
)
from invorder.durations import parse_duration
from invorder.errors import InvorderError
from invorder.ops.stats import queue_stats
from invorder.queue import admin


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _short(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@click.group()
def jobs() -> None:
    """Inspect and administer the job queue (the `jobs` table)."""


@jobs.command()
@json_option
def stats(as_json: bool) -> None:
    """Queue depth and lag per kind, workers, throughput, orders by status, stuck jobs, failures."""
    result = run_with_pool(lambda pool: queue_stats(pool))
    if as_json:
        echo_json(result)
        return
    console = rich_console()
    table = Table(title="Queues", title_justify="left")
    for column in ("kind", "ready", "scheduled", "running", "dead", "cancelled", "oldest ready waits"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for q in result.queues:
        table.add_row(
            q.kind,
            str(q.ready),
            str(q.scheduled),
            str(q.running),
            str(q.dead),
            str(q.cancelled),
            _age(q.oldest_ready_age_s),
        )
    if not result.queues:
        table.add_row("(no jobs)", "", "", "", "", "", "")
    console.print(table)

    workers = Table(title="Workers (seen in the last 10 minutes)", title_justify="left")
    for column in ("worker", "alive", "in hand", "concurrency", "done", "failed", "last seen", "started"):
        workers.add_column(column)
    for w in result.workers:
        alive = "yes" if w.alive else ("stopped" if w.stopped_at else "no heartbeat")
        workers.add_row(
            w.worker_id,
            alive,
            str(w.jobs_in_hand),
            str(w.concurrency),
            str(w.jobs_done),
            str(w.jobs_failed),
            when(w.last_seen_at),
            when(w.started_at),
        )
    console.print(workers)

    done = sum(t.done for t in result.throughput)
    minutes = max(1, len(result.throughput))
    console.print(
        f"Throughput, last 30 minutes: {done} jobs done, {sum(t.failed for t in result.throughput)} failed, "
        f"{sum(t.dead for t in result.throughput)} dead ({done / minutes:.0f} done per active minute)"
    )

    orders = Table(title="Orders", title_justify="left")
    for column in ("status", "in flight now", "oldest in flight", "reached it in the last hour"):
        orders.add_column(column)
    for o in result.orders:
        flight = o.status in ("pending", "reserved")
        orders.add_row(
            o.status,
            str(o.in_flight) if flight else "",
            _age(o.oldest_age_s) if flight and o.in_flight else "",
            "" if flight else str(o.finished_last_hour),
        )
    console.print(orders)

    hooks = result.webhooks
    console.print(
        f"Webhooks: {hooks.pending} deliveries waiting or in flight; last hour {hooks.delivered_last_hour} delivered,"
        f" {hooks.failed_last_hour} failed attempts; endpoints {hooks.enabled_endpoints} enabled,"
        f" {hooks.disabled_endpoints} disabled"
    )

    if result.paused:
        console.print(
            "Paused kinds (no worker claims them): "
            + ", ".join(f"{p.kind} (by {p.paused_by}, {when(p.paused_at)})" for p in result.paused)
        )
    if result.limits:
        running = {q.kind: q.running for q in result.queues}
        console.print(
            "Limited kinds (most running at once, all workers together): "
            + ", ".join(
                f"{x.kind} {x.max_running} ({running.get(x.kind, 0)} running; by {x.set_by}, {when(x.set_at)})"
                for x in result.limits
            )
        )

    if result.stuck:
        stuck = Table(title="Stuck jobs", title_justify="left")
        for column in ("id", "kind", "status", "for", "reason", "last error"):
            stuck.add_column(column)
        for s in result.stuck:
            stuck.add_row(str(s.id), s.kind, s.status, _age(s.stuck_for_s), s.reason, _short(s.last_error, 50))
        console.print(stuck)
    else:
        console.print("Stuck jobs: none")
    if result.recent_failures:
        _print_failures(console, result.recent_failures)


@jobs.command()
@click.argument("kind")
@actor_option
@json_option
def pause(kind: str, actor: str | None, as_json: bool) -> None:
    """Stop every worker claiming jobs of KIND (those running finish); stored in the database."""
    _pause_or_resume(kind, paused=True, actor=actor, as_json=as_json)


@jobs.command()
@click.argument("kind")
@actor_option
@json_option
def resume(kind: str, actor: str | None, as_json: bool) -> None:
    """Let workers claim jobs of KIND again."""
    _pause_or_resume(kind, paused=False, actor=actor, as_json=as_json)


def _pause_or_resume(kind: str, *, paused: bool, actor: str | None, as_json: bool) -> None:
    from invorder.job_kinds import INVORDER_JOB_KINDS

    result = run_with_pool(
        lambda pool: admin.set_kind_paused(
            pool, kind, paused=paused, actor=actor_or_default(actor), known_kinds=INVORDER_JOB_KINDS
        )
    )
    if as_json:
        echo_json({"data": result})
        return
    click.echo(f"job kind {kind} is {'paused' if result.paused else 'running'}")


@jobs.command()
@click.argument("kind")
@click.argument("max_running", required=False, type=click.IntRange(1, admin.MAX_RUNNING_LIMIT))
@click.option("--off", is_flag=True, help="Lift the limit of KIND.")
@actor_option
@json_option
def limit(kind: str, max_running: int | None, off: bool, actor: str | None, as_json: bool) -> None:
    """Let at most MAX_RUNNING jobs of KIND run at once across every worker (those running
    beyond it finish), or lift the limit with --off; stored in the database."""
    from invorder.job_kinds import INVORDER_JOB_KINDS

    if off == (max_running is not None):
        raise click.UsageError("give either MAX_RUNNING or --off")
    result = run_with_pool(
        lambda pool: admin.set_kind_limit(
            pool, kind, max_running, actor=actor_or_default(actor), known_kinds=INVORDER_JOB_KINDS
        )
    )
    if as_json:
        echo_json({"data": result})
        return
    if result.max_running is None:
        click.echo(f"job kind {kind} has no limit")
    else:
        click.echo(f"job kind {kind}: at most {result.max_running} running at once")


def _print_failures(console: Console, failures: list[admin.FailureRow]) -> None:
    table = Table(title="Latest failures", title_justify="left")
    for column in ("id", "kind", "status", "attempts", "when", "error"):
        table.add_column(column)
    for f in failures:
        table.add_row(
            str(f.id), f.kind, f.status, f"{f.attempts}/{f.max_attempts}", when(f.updated_at), _short(f.last_error)
        )
    console.print(table)


@jobs.command("list")
@click.option("--kind", default=None, help="Only jobs of this kind.")
@click.option("--status", type=click.Choice(admin.JOB_STATUSES), default=None, help="Only jobs in this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--after", "after_id", type=click.IntRange(0), default=0, help="Start after this job id (paging).")
@json_option
def list_command(kind: str | None, status: str | None, limit: int, after_id: int, as_json: bool) -> None:
    """Jobs by id, filtered by kind and status."""
    found = run_with_pool(lambda pool: admin.list_jobs(pool, kind=kind, status=status, after_id=after_id, limit=limit))
    if as_json:
        echo_json(found)
        return
    table = Table()
    for column in ("id", "kind", "status", "attempts", "run after", "lease owner", "payload", "last error"):
        table.add_column(column)
    for j in found:
        table.add_row(
            str(j.id),
            j.kind,
            j.status,
            f"{j.attempts}/{j.max_attempts}",
            when(j.run_after),
            j.lease_owner or "",
            _short(msgspec.json.encode(j.payload).decode(), 40),
            _short(j.last_error, 50),
        )
    console = rich_console()
    console.print(table)
    if len(found) == limit:
        console.print(f"more: --after {found[-1].id}")


@jobs.command()
@click.argument("job_id", type=click.IntRange(1))
@json_option
def show(job_id: int, as_json: bool) -> None:
    """One job, every field."""
    job = run_with_pool(lambda pool: admin.get_job(pool, job_id))
    if as_json:
        echo_json(job)
        return
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field in job.__struct_fields__:
        value = getattr(job, field)
        if isinstance(value, datetime):
            value = when(value)
        elif isinstance(value, dict):
            value = msgspec.json.encode(value).decode()
        table.add_row(field, "" if value is None else str(value))
    rich_console().print(table)


@jobs.command()
@click.argument("job_ids", nargs=-1, required=True, type=click.IntRange(1))
@actor_option
@json_option
def retry(job_ids: tuple[int, ...], actor: str | None, as_json: bool) -> None:
    """Run dead, cancelled or later-scheduled jobs now, with fresh attempts."""
    who = actor_or_default(actor)
    result = run_with_pool(lambda pool: admin.retry_jobs(pool, list(job_ids), actor=who))
    _print_action(result, "retried", as_json)


@jobs.command()
@click.argument("job_ids", nargs=-1, required=True, type=click.IntRange(1))
@actor_option
@json_option
def cancel(job_ids: tuple[int, ...], actor: str | None, as_json: bool) -> None:
    """Give up ready or dead jobs (kept as cancelled until purged). A cancelled process_order
    job leaves its order as it is: cancel the order itself with POST /orders/{id}/cancel."""
    who = actor_or_default(actor)
    result = run_with_pool(lambda pool: admin.cancel_jobs(pool, list(job_ids), actor=who))
    _print_action(result, "cancelled", as_json)


def _print_action(result: admin.ActionResult, verb: str, as_json: bool) -> None:
    if as_json:
        echo_json(result)
    else:
        click.echo(f"{verb}: {' '.join(map(str, result.affected)) or 'none'}")
        if result.skipped:
            click.echo(f"left alone (running, finished or in another state): {' '.join(map(str, result.skipped))}")
    if not result.affected:
        raise SystemExit(1)


@jobs.command()
@click.option("--older-than", required=True, help="Age since the job last changed: 90s, 15m, 12h, 7d, 2w.")
@click.option(
    "--status",
    "statuses",
    type=click.Choice(admin.PURGEABLE_STATUSES),
    multiple=True,
    help="Purge only these (repeatable) [dead and cancelled].",
)
@actor_option
@json_option
def purge(older_than: str, statuses: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Delete dead and cancelled jobs that last changed before --older-than (in batches)."""
    try:
        seconds = parse_duration(older_than)
    except InvorderError as exc:
        raise click.BadParameter(exc.detail, param_hint="--older-than") from None
    chosen = statuses or admin.PURGEABLE_STATUSES
    who = actor_or_default(actor)
    purged = run_with_pool(lambda pool: admin.purge_jobs(pool, older_than_s=seconds, statuses=chosen, actor=who))
    if as_json:
        echo_json({"purged": purged, "older_than_s": seconds, "statuses": list(chosen)})
    else:
        click.echo(f"purged {purged} {' and '.join(chosen)} job{'s' if purged != 1 else ''} older than {older_than}")


@jobs.command()
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
def actions(limit: int, as_json: bool) -> None:
    """The latest operator actions on jobs: who did what, when."""
    found = run_with_pool(lambda pool: admin.list_admin_actions(pool, limit=limit))
    echo_table(
        found,
        as_json,
        ("when", "actor", "action", "jobs", "affected", "details"),
        lambda a: (
            when(a.acted_at),
            a.actor,
            a.action,
            _short(" ".join(map(str, a.job_ids)), 40),
            str(a.affected),
            msgspec.json.encode(a.details).decode(),
        ),
    )
