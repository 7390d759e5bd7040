"""The JSON API for integrations under /api/v1: API tokens, and the same services the
pages call, parsed and serialised (OpenAPI 3.1 generated from the schemas)."""
