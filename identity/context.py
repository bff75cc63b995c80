"""What the app holds for its lifetime: settings, database, key cache, secrets helpers, templates.

Built by ``create_app`` (and the CLI) from one ``Settings``; never a module-level global.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from identity.crypto import KeyEncryptor, SecretHasher
from identity.db import make_engine, make_sessionmaker
from identity.directory import Directory
from identity.invalidation import watch
from identity.keys import KeyCache
from identity.oauth.dpop import DPoPNonces
from identity.remote_jwks import RemoteJwks
from identity.settings import Settings
from identity.tokens import VerifiedTokens
from identity.usage import UsageCounter


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    hasher: SecretHasher
    encryptor: KeyEncryptor
    keys: KeyCache
    directory: Directory
    usage: UsageCounter
    access_tokens: VerifiedTokens
    retry_sealer: KeyEncryptor  # token responses kept for a refresh retry (identity.grants)
    remote_jwks: RemoteJwks  # clients' jwks_uri documents (private_key_jwt), fetched and cached
    dpop_nonces: DPoPNonces  # RFC 9449 §8 nonces, stateless: every replica accepts every replica's

    @classmethod
    def build(cls, settings: Settings, engine: Engine | None = None) -> AppContext:
        engine = engine or make_engine(settings.database_url)
        encryptor = KeyEncryptor(settings.secret_key)
        sessions = make_sessionmaker(engine)
        directory = Directory(sessions, settings.cache_seconds)
        watch(sessions, engine, directory)  # committed changes leave the caches at once
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            directory=directory,
            hasher=SecretHasher(settings.secret_key),
            encryptor=encryptor,
            keys=KeyCache(encryptor),
            usage=UsageCounter(),
            access_tokens=VerifiedTokens(),
            retry_sealer=KeyEncryptor(settings.secret_key, "refresh-token-retry"),
            remote_jwks=RemoteJwks(prod=settings.is_prod),
            dpop_nonces=DPoPNonces(settings.secret_key),
        )
