"""A multi-tenant OpenID Connect provider."""
