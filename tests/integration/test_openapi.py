"""The OpenAPI document's shape: scopes, errors, closed bodies and parameters as the API reads
them (schemathesis then holds the live API to it: tests/system/test_openapi_contract.py)."""

from __future__ import annotations

import re
from typing import Any

from invorder.api.access import SCOPE_KEY
from tests.integration.test_access import api_routes

PROBLEM = "application/problem+json"


def document(client: Any) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def test_every_api_operation_names_its_scope_and_its_errors(client: Any) -> None:
    paths = document(client)["paths"]
    assert document(client)["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`invorder keys create`, or INVORDER_ADMIN_TOKEN)",
    }
    checked = 0
    for method, path, handler in api_routes(client.app):
        if not path.startswith("/api/v1"):
            continue
        operation = paths[re.sub(r":\w+}", "}", path)][method.lower()]
        assert operation["security"] == [{"bearer": [handler.opt[SCOPE_KEY]]}], (method, path)
        for status in ("401", "403", "503"):
            assert PROBLEM in operation["responses"][status]["content"], (method, path, status)
        parameters = operation.get("parameters", [])
        if parameters or "requestBody" in operation:
            assert "400" in operation["responses"], (method, path)
        if any(p["in"] == "path" for p in parameters):
            assert "404" in operation["responses"], (method, path)
        checked += 1
    assert checked > 30


def test_request_bodies_are_closed_and_exact(client: Any) -> None:
    doc = document(client)
    schemas = doc["components"]["schemas"]
    bodies = [
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for item in doc["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert len(bodies) > 10
    for name in bodies:
        # A body is a closed object, or a choice of closed objects (its forms).
        forms = [ref["$ref"].rsplit("/", 1)[1] for ref in schemas[name].get("oneOf", [])] or [name]
        for form in forms:
            assert schemas[form]["additionalProperties"] is False, (name, form)
    # A list item keeps its bounds, and a choice of two forms is stated, each form its own type.
    assert schemas["JobIds"]["properties"]["ids"]["items"]["minimum"] == 1
    assert schemas["OrderCreate"]["oneOf"] == [
        {"$ref": "#/components/schemas/OrderCreateItems"},
        {"$ref": "#/components/schemas/OrderCreateLine"},
    ]
    assert schemas["OrderCreateItems"]["required"] == ["items"]
    assert sorted(schemas["OrderCreateItems"]["properties"]) == ["customer_ref", "items"]
    assert schemas["OrderCreateLine"]["required"] == ["product_id", "quantity"]
    assert sorted(schemas["OrderCreateLine"]["properties"]) == ["customer_ref", "product_id", "quantity"]
    # A refund by items, by amount, or both: two closed forms, the amount's without items.
    assert schemas["RefundCreate"]["oneOf"] == [
        {"$ref": "#/components/schemas/RefundCreateItems"},
        {"$ref": "#/components/schemas/RefundCreateAmount"},
    ]
    assert schemas["RefundCreateItems"]["required"] == ["items"]
    assert sorted(schemas["RefundCreateItems"]["properties"]) == ["amount_cents", "items", "note", "reason"]
    assert schemas["RefundCreateAmount"]["required"] == ["amount_cents"]
    assert sorted(schemas["RefundCreateAmount"]["properties"]) == ["amount_cents", "note", "reason"]
    # An optional field that is null when left out says nothing more (no `"default": null`);
    # any other default is said in words: openapi-typescript would make a field with a default
    # required in the request types.
    assert "default" not in schemas["ProductCreate"]["properties"]["sku"]
    restock = schemas["RefundLine"]["properties"]["restock"]
    assert restock == {"enum": ["cancel", "none", "return"], "description": '"none" when left out'}
    for name, schema in schemas.items():
        if schema.get("additionalProperties") is False:  # a request body, or a part of one
            assert not [p for p, prop in schema["properties"].items() if "default" in prop], name
    assert schemas["KeyCreate"]["properties"]["scopes"]["items"]["enum"]


def test_the_operations_after_payment(client: Any) -> None:
    paths = document(client)["paths"]

    def operation(method: str, path: str) -> dict[str, Any]:
        found: dict[str, Any] = paths["/api/v1" + path][method]
        return found

    def success(found: dict[str, Any]) -> dict[str, str]:
        return {
            status: response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            for status, response in found["responses"].items()
            if status.startswith("2")
        }

    fulfill = operation("post", "/orders/{order_id}/fulfillments")
    assert (fulfill["operationId"], fulfill["security"]) == ("createFulfillment", [{"bearer": ["fulfillments:write"]}])
    assert success(fulfill) == {"201": "FulfillmentMessage"}
    assert {"409", "422"} <= set(fulfill["responses"])
    refund = operation("post", "/orders/{order_id}/refunds")
    assert (refund["operationId"], refund["security"]) == ("createRefund", [{"bearer": ["refunds:write"]}])
    assert success(refund) == {"202": "RefundMessage"}
    assert {"409", "422"} <= set(refund["responses"])
    (key,) = [p for p in refund["parameters"] if p["in"] == "header"]
    assert (key["name"], key["required"], key["schema"]["minLength"]) == ("Idempotency-Key", True, 1)
    cancel = operation("post", "/orders/{order_id}/cancel")
    assert success(cancel) == {"200": "CancelledOrderMessage", "202": "CancelledOrderMessage"}
    reads = {
        "listFulfillments": (operation("get", "/orders/{order_id}/fulfillments"), "FulfillmentPage"),
        "listRefunds": (operation("get", "/orders/{order_id}/refunds"), "RefundPage"),
        "getRefund": (operation("get", "/refunds/{refund_id}"), "Refund"),
    }
    for operation_id, (found, schema) in reads.items():
        assert found["operationId"] == operation_id and found["security"] == [{"bearer": ["orders:read"]}]
        assert success(found) == {"200": schema}, operation_id


def test_parameters_are_never_null_strings_and_refuse_nul(client: Any) -> None:
    for item in document(client)["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter["schema"]
                if "enum" in schema or any("enum" in s for s in schema.get("oneOf", [])):
                    continue  # the API's own values, none holding NUL (`null` is absent for these)
                kinds = [schema.get("type")] + [s.get("type") for s in schema.get("oneOf", [])]
                if "string" in kinds:
                    assert schema["type"] == "string" and "oneOf" not in schema, parameter
                    patterns = [schema.get("pattern")] + [p["pattern"] for p in schema.get("allOf", [])]
                    assert "^[^\\u0000]*$" in patterns, parameter


def test_an_optional_enum_parameter_is_one_enum_or_null(client: Any) -> None:
    (status,) = [p for p in document(client)["paths"]["/api/v1/orders"]["get"]["parameters"] if p["name"] == "status"]
    assert status["schema"]["oneOf"] == [
        {"type": "string", "enum": ["pending", "reserved", "processed", "failed", "cancelled"]},
        {"type": "null"},
    ]


def test_the_api_accepts_what_the_document_calls_an_integer_and_refuses_nul(client: Any, sql: Any) -> None:
    created = client.post("/api/v1/products", json={"name": "Whole", "price_cents": 250.0})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["price_cents"] == 250
    assert client.post("/api/v1/products", json={"name": "Half", "price_cents": 2.5}).status_code == 400
    assert client.post("/api/v1/products", json={"name": "Text", "price_cents": "12"}).status_code == 400
    for response in (
        client.post("/api/v1/products", json={"name": "N\x00L", "price_cents": 1}),
        client.get("/api/v1/products", params={"q": "a\x00b"}),
        client.get("/api/v1/ops/jobs", params={"kind": "\x00"}),
    ):
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
    assert sql.execute("select count(*) from products where name like 'N%'").fetchone() == (0,)
