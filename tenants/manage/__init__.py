"""The management operations: one function per change a tenant or the platform can make.

The developer portal, the admin console and the management API all call these, so each rule (who may
change what, what is valid) and each audit event lives in exactly one place. Every function takes the
acting ``Actor``, works inside the caller's transaction (it only flushes) and records one audit event
in that same transaction. Refusals are the exceptions in ``tenants.manage.errors``.
"""
