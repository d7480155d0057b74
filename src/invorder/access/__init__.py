"""Who may do what: clients, their API keys and the scopes a key carries (docs/security.md)."""
