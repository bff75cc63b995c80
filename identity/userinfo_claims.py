"""Which user claims each granted scope releases (ID token and userinfo share this)."""

from __future__ import annotations

from typing import Any

from identity import profile
from identity.models.user import User


def user_claims(user: User, scopes: list[str]) -> dict[str, Any]:
    """OIDC Core §5.4: the claims of each granted scope that the user has a value for."""
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in scopes:
        claims["name"] = user.name or None
        claims["updated_at"] = user.updated_at
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    claims.update(profile.released(user.claims or {}, scopes))
    return {k: v for k, v in claims.items() if v is not None}
