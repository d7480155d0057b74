"""Property-based pass over the API: whatever the body, query or header, never a 5xx."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
field_names = st.sampled_from(
    [
        "name",
        "sku",
        "description",
        "price_cents",
        "product_id",
        "on_hand",
        "delta",
        "reason",
        "extra",
    ]
)
bodies = json_values | st.dictionaries(field_names, json_values, max_size=5)
paths = st.sampled_from(
    [
        ("post", "/api/v1/products"),
        ("patch", "/api/v1/products/1"),
        ("post", "/api/v1/inventory"),
        ("patch", "/api/v1/inventory/1"),
        ("patch", "/api/v1/products/99999999999999999999"),
        ("delete", "/api/v1/products/-1"),
        ("post", "/api/v1/inventory/1/adjustments"),
    ]
)
queries = st.dictionaries(
    st.sampled_from(["limit", "cursor", "q", "below"]),
    st.text(max_size=12) | st.integers().map(str),
    max_size=3,
)
list_paths = st.sampled_from(["/api/v1/products", "/api/v1/inventory", "/api/v1/inventory/1/movements"])
headers = st.sampled_from(
    [
        {},
        {"If-Match": '"1"'},
        {"If-Match": "garbage"},
        {"If-Match": '"99999999999999999999"'},
        {"If-Match": "*"},
    ]
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(target=paths, body=bodies, header=headers)
def test_writes_never_answer_5xx(client: Any, target: tuple[str, str], body: Any, header: dict[str, str]) -> None:
    if client.get("/api/v1/products/1").status_code == 404:
        client.post("/api/v1/products", json={"name": "Seed", "price_cents": 1})
        client.post("/api/v1/inventory", json={"product_id": 1, "on_hand": 5})
    method, path = target
    response = client.request(method, path, json=body, headers=header)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


@SETTINGS
@given(path=list_paths, params=queries)
def test_reads_never_answer_5xx(client: Any, path: str, params: dict[str, str]) -> None:
    response = client.get(path, params=params)
    assert response.status_code < 500, response.text


@SETTINGS
@given(raw=st.binary(max_size=60))
def test_raw_bytes_never_answer_5xx(client: Any, raw: bytes) -> None:
    response = client.post("/api/v1/products", content=raw, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
