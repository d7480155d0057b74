"""The OpenAPI document: its configuration, and what it says beyond what Litestar infers."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from invorder import __version__
from invorder.api.access import BEARER

# A request struct that is valid in one of several forms (one field or another, never both)
# lists them in this class attribute, each as {"name": ..., "required": [...], "absent": [...]};
# the document gives each form as a closed object schema of that name, and the struct as their
# `oneOf`.
ONE_OF = "__openapi_one_of__"
NO_NUL = "^[^\\u0000]*$"
_REFS = "#/components/schemas/{name}"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="invorder",
        version=__version__,
        path="/schema",
        description=(
            "Inventory and orders; background work on a PostgreSQL job queue. Every /api/v1 "
            "operation needs an API key (`Authorization: Bearer ik_...`) holding the scope its "
            "security requirement names; errors are problem details (RFC 9457)."
        ),
        # The document at /schema/openapi.json and the two pages that show it, each given the
        # exact document (no YAML copy: one format, one place to check).
        operation_id_creator=_operation_id,
        render_plugins=[ExactRedocRenderPlugin(path="/"), ExactSwaggerRenderPlugin(), ExactJsonRenderPlugin()],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key (`invorder keys create`, or INVORDER_ADMIN_TOKEN)",
                )
            }
        ),
    )


def _operation_id(handler: HTTPRouteHandler, method: Any, path: Any) -> str:
    """The handler's name in camelCase (`placeOrder`): what generated clients name their calls.
    Litestar refuses two operations with one id, so handler names stay unique."""
    first, *rest = handler.handler_name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _exact(request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> dict[str, Any]:
    """The exact document, built once per app and kept in its state."""
    state = request.app.state
    if "exact_openapi" not in state:
        state["exact_openapi"] = exact_document(request.app, openapi_schema)
    document: dict[str, Any] = state["exact_openapi"]
    return document


class ExactJsonRenderPlugin(JsonRenderPlugin):
    """`/schema/openapi.json`: Litestar's document made exact (see `exact_document`)."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, _exact(request, openapi_schema))


class ExactRedocRenderPlugin(RedocRenderPlugin):
    """`/schema`: Redoc, showing the exact document."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, _exact(request, openapi_schema))


class ExactSwaggerRenderPlugin(SwaggerRenderPlugin):
    """`/schema/swagger`: Swagger UI, showing the exact document."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, _exact(request, openapi_schema))


def exact_document(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    """A copy of Litestar's `document` with msgspec's request body schemas and exact parameters.

    Litestar drops some constraints of request bodies (those of list items, `forbid_unknown_fields`),
    so the schema of every request body is msgspec's own JSON Schema of the struct the handler
    decodes: exactly what the strict decoder (`web/strict_body.py`) accepts. Text cannot hold NUL in
    PostgreSQL, so no string in a request may contain one (a 400), and the document says so."""
    document = copy.deepcopy(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    bodies = _request_structs(app)
    _, components = msgspec.json.schema_components(bodies, ref_template=_REFS)
    for name, schema in components.items():
        schemas[name] = _without_nul(_no_defaults(schema))
    for struct in bodies:
        for form in getattr(struct, ONE_OF, []):
            schemas[form["name"]] = _form(schemas[struct.__name__], form)
        if hasattr(struct, ONE_OF):
            whole = schemas[struct.__name__]
            schemas[struct.__name__] = {
                "title": whole["title"],
                "description": whole.get("description", ""),
                "oneOf": [{"$ref": _REFS.format(name=form["name"])} for form in getattr(struct, ONE_OF)],
            }
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_nul(_nullable_enum(_string_never_null(parameter["schema"])))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and body["schema"].get("$ref", "").removeprefix(_REFS[:-6]) not in components:
                raise RuntimeError(f"the request body {body['schema']} has no schema from msgspec")
    return document


def _form(whole: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """One form of a request body, a closed object of its own: the struct's schema without the
    fields the form leaves out, with its own required fields. Closed objects cannot overlap, so
    `oneOf` over them states the rule, in a shape that generators turn into a union of types."""
    properties = {name: schema for name, schema in whole["properties"].items() if name not in form["absent"]}
    return {
        "title": form["name"],
        "type": "object",
        "properties": properties,
        "required": sorted({*whole.get("required", []), *form["required"]}),
        "additionalProperties": False,
    }


def _request_structs(app: Litestar) -> list[Any]:
    found: dict[str, Any] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.parsed_data_field is not None:
                struct = handler.parsed_data_field.annotation
                found[struct.__name__] = struct
    return list(found.values())


def _no_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """A request field that may be left out has no `default` in the document: openapi-typescript
    reads any default in a component as "always present" and would make the field required in
    the request types (a refund line without `restock` would not compile). A null default says
    again what leaving the field out means, so it goes; any other is said in the description
    (`restock`: "none" when left out), which every generator reads as an optional field."""
    properties: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if "default" not in prop:
            properties[name] = prop
            continue
        default = prop["default"]
        prop = {k: v for k, v in prop.items() if k != "default"}
        if default is not None:
            said = f"{msgspec.json.encode(default).decode()} when left out"
            prop["description"] = f"{prop['description']} ({said})" if prop.get("description") else said
        properties[name] = prop
    return {**schema, "properties": properties} if properties else schema


def _string_never_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A path, query or header parameter is text: an optional string one is never `null` (the
    text "null" is just text to it). An optional number or enum is: Litestar reads the text
    `null` as absent for those, so the document keeps saying so."""
    alternatives = schema.get("oneOf", [])
    if len(alternatives) != 2 or {"type": "null"} not in alternatives or {"type": "string"} not in alternatives:
        return schema
    merged = {k: v for k, v in schema.items() if k != "oneOf"}
    merged["type"] = "string"
    return merged


def _nullable_enum(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional enum parameter, which Litestar gives as `type: [null, string]` with null among
    the values, as `oneOf` an enum of strings or null: the same values, in the shape that
    generators make one enum type of (openapi-python-client made three of the other)."""
    types = schema.get("type")
    if not isinstance(types, list) or "null" not in types or "enum" not in schema or len(types) != 2:
        return schema
    (kind,) = [t for t in types if t != "null"]
    values = [v for v in schema["enum"] if v is not None]
    rest = {k: v for k, v in schema.items() if k not in ("type", "enum")}
    return {"oneOf": [{"type": kind, "enum": values}, {"type": "null"}], **rest}


def _without_nul(schema: Any) -> Any:
    """`schema` with every string in it refusing NUL."""
    if isinstance(schema, list):
        return [_without_nul(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _without_nul(v) for k, v in schema.items()}
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        if "pattern" not in schema:
            schema["pattern"] = NO_NUL
        elif schema["pattern"] != NO_NUL:
            schema["allOf"] = [*schema.get("allOf", []), {"pattern": NO_NUL}]
    return schema
