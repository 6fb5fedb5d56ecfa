"""Keyed pseudonyms: HMAC-SHA256 of a direct identifier under a secret key, computed inside PostgreSQL.

The key comes from ``GMODA_PSEUDONYMISATION_KEY``. With the embedded database and no key set, one is generated
once into ``$GMODA_HOME/pseudonymisation.key`` (owner-only permissions) and the platform says so; with an
external database the key must be given, because pseudonyms made under a lost key can never be matched again.

PostgreSQL has SHA-256 built in but no HMAC without pgcrypto, which the embedded server lacks. HMAC is
``H((K xor opad) || H((K xor ipad) || m))``, so the two padded keys are derived here and passed to
``ops.hmac_sha256`` as statement parameters: the key itself never reaches the database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from functools import cache

from gmoda_assets.lib import database, settings

log = logging.getLogger(__name__)
BLOCK = 64  # SHA-256 block size in bytes
PSEUDONYM_HEX = 32  # 128 bits: collisions are negligible at any population size


class PseudonymisationKeyMissing(RuntimeError):
    pass


def key_file():
    return settings.home_dir() / "pseudonymisation.key"


@cache
def _key_for(env_key: str | None, path: str, embedded: bool) -> bytes:
    if env_key:
        return env_key.encode("utf-8")
    if not embedded:
        raise PseudonymisationKeyMissing(
            "GMODA_PSEUDONYMISATION_KEY is not set. With GMODA_DATABASE_URL set the key must come from the "
            "environment (a secret store), never from a file beside the code."
        )
    file = settings.home_dir() / "pseudonymisation.key"
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        log.warning("Generated a pseudonymisation key in %s (owner-only). Set GMODA_PSEUDONYMISATION_KEY "
                    "to use your own; keep it safe, pseudonyms cannot be matched again without it.", file)
    return file.read_text().strip().encode("utf-8")


def secret_key() -> bytes:
    return _key_for(os.environ.get("GMODA_PSEUDONYMISATION_KEY"), str(key_file()), database.is_embedded())


@dataclass(frozen=True)
class HmacPads:
    """The key as HMAC's inner and outer padded keys: the parameters ``ops.hmac_sha256`` takes."""

    ipad: bytes
    opad: bytes

    @classmethod
    def from_key(cls, key: bytes) -> HmacPads:
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(BLOCK, b"\0")
        return cls(bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key))

    def params(self) -> dict[str, bytes]:
        return {"hmac_ipad": self.ipad, "hmac_opad": self.opad}


def pads() -> HmacPads:
    return HmacPads.from_key(secret_key())


def sql_pseudonym(message_sql: str) -> str:
    """SQL for the pseudonym of ``message_sql`` (a text expression), using the statement's pad parameters."""
    return f"left(ops.hmac_sha256(%(hmac_ipad)s, %(hmac_opad)s, {message_sql}), {PSEUDONYM_HEX})"
