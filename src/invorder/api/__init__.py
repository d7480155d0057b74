"""The HTTP API: the Litestar app, middleware, the OpenAPI document, and one module per resource."""
