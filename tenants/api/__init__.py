"""The management API: JSON over HTTPS, protected by access tokens from our own token endpoint.

Tenant scope under ``{issuer}/api`` (apps, users, team, scopes, audit events), platform scope under
``/api/admin`` (tenants, the platform audit log). Described by ``/api/openapi.json``.
"""
