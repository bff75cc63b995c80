"""All tables, imported together so ``SQLModel.metadata`` is complete (Alembic reads it)."""

from identity.models.admin import AdminSession, PlatformAdmin
from identity.models.audit import AuditEvent
from identity.models.client import Client, ClientAssertionJti
from identity.models.device import DeviceAuthorization
from identity.models.grant import (
    AuthorizationCode,
    DPoPProofJti,
    Grant,
    LogoutDelivery,
    RefreshToken,
    RevokedAccessToken,
)
from identity.models.interaction import AuthorizationRequest, BrowserSession, Consent, LoginThrottle, PushedRequest
from identity.models.key import SigningKey
from identity.models.registration import InitialAccessToken
from identity.models.team import Invitation, Membership
from identity.models.tenant import Tenant, TenantScope, TokenUsage
from identity.models.user import User

__all__ = [
    "AdminSession",
    "PlatformAdmin",
    "AuditEvent",
    "Invitation",
    "Membership",
    "AuthorizationCode",
    "AuthorizationRequest",
    "BrowserSession",
    "Client",
    "ClientAssertionJti",
    "Consent",
    "DeviceAuthorization",
    "DPoPProofJti",
    "Grant",
    "InitialAccessToken",
    "LoginThrottle",
    "LogoutDelivery",
    "PushedRequest",
    "RefreshToken",
    "RevokedAccessToken",
    "SigningKey",
    "Tenant",
    "TenantScope",
    "TokenUsage",
    "User",
]
