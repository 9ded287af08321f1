"""REST v1: the authenticated API for frontends and bots (docs/api.md "REST v1")."""
