"""The platform admin console at /admin: tenants (create, suspend, resume, rename, delete), the platform-wide
audit log, and the admins' own sign-in with TOTP. Its sessions are its own; no tenant session opens it."""
