"""Tenants: the tenant model, resolution from the URL, and tenant services."""
