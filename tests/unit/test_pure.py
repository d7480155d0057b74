"""Pure functions: backoff, cursors, the named-query loader, order request hashing."""

from __future__ import annotations

import random

import pytest

from invorder.api.pagination import decode_cursor, encode_cursor, next_cursor
from invorder.db.queries import parse_queries, queries
from invorder.errors import BadRequest
from invorder.orders.placing import NewOrder
from invorder.queue.jobs import backoff_s


def test_backoff_grows_exponentially_and_is_capped_with_jitter() -> None:
    rng = random.Random(7)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (20, 60.0)]:
        samples = [backoff_s(attempt, base_s=1.0, max_s=60.0, rng=rng) for _ in range(200)]
        assert min(samples) >= step / 2 and max(samples) <= step
        assert max(samples) - min(samples) > step / 10  # jittered, not one value


def test_cursor_round_trips_and_refuses_garbage() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    assert decode_cursor(None) == 0
    assert decode_cursor("9" * 19) == 2**63 - 1  # past every bigint id: an empty page, not an error
    for bad in ("garbage!", "-1", "1" * 20, "١٢", "5\n"):
        with pytest.raises(BadRequest):
            decode_cursor(bad)
    assert next_cursor([1, 2, 3], 3) == encode_cursor(3)
    assert next_cursor([1, 2], 3) is None


def test_query_files_parse_into_named_queries_with_kinds() -> None:
    parsed = parse_queries("-- name: a_b :many\n-- says what\nselect 1;\n\n-- name: c :exec\nselect 2;\n", "x.sql")
    assert [(q.name, q.kind, q.sql) for q in parsed] == [("a_b", "many", "select 1"), ("c", "exec", "select 2")]
    names = queries().names()
    assert {"claim_jobs", "complete_jobs", "insert_product", "move_reservations_for_orders"} <= set(names)


def test_every_query_fits_psycopgs_cache_of_converted_queries() -> None:
    # A longer query (or one with more parameters) is parsed for placeholders on every run,
    # with a regular expression: a cost per statement that nothing else would show.
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

    for query in (getattr(queries(), name) for name in queries().names()):
        assert len(query.sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH, query.name
        assert query.sql.count("%(") <= MAX_CACHED_STATEMENT_PARAMS, query.name


def test_unknown_query_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = queries().no_such_query


def test_order_request_hash_ignores_line_order_and_sees_changes() -> None:
    a = NewOrder({1: 2, 3: 4}, "c").request_hash()
    assert a == NewOrder({3: 4, 1: 2}, "c").request_hash()
    assert a != NewOrder({1: 2, 3: 5}, "c").request_hash()
    assert a != NewOrder({1: 2, 3: 4}, None).request_hash()


def test_the_known_job_kinds_are_the_kinds_the_workers_register() -> None:
    from invorder.job_kinds import INVORDER_JOB_KINDS
    from invorder.processes.worker import invorder_registry, payment_gateway
    from invorder.settings import load_settings

    settings = load_settings(environ={})
    registry, _ = invorder_registry(settings, payment_gateway(settings))
    assert tuple(registry.kinds) == INVORDER_JOB_KINDS
