"""Why a management operation refused: each surface shows these its own way (a page, problem+json)."""

from __future__ import annotations


class ManageError(Exception):
    """A refused change. ``fields`` names the input at fault, when one is."""

    status = 400

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message, self.fields = message, fields or {}


class Invalid(ManageError):
    """The input breaks a rule (HTTP 422 in the API, the form again in the portal)."""

    status = 422


class Conflict(ManageError):
    """The change clashes with the current state: a name taken, a scope still in use, the last owner."""

    status = 409


class NotAllowed(ManageError):
    """The actor's role does not allow this change (HTTP 403)."""

    status = 403


class Missing(ManageError):
    """No such thing in this tenant (another tenant's id is missing too: ids cannot be probed)."""

    status = 404
