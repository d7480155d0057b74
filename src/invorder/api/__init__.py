"""The HTTP API: Litestar app, problem details, middleware, and one module per resource."""
