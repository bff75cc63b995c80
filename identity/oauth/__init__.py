"""The Authlib wiring: the only package that imports Authlib's server classes."""
