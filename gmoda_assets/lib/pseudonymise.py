"""Keyed pseudonyms: HMAC-SHA256 of a direct identifier under a secret key, computed inside PostgreSQL.

The key comes from ``GMODA_PSEUDONYMISATION_KEY`` (at least 32 bytes). With the embedded database and no key
set, one is generated once into ``$GMODA_HOME/pseudonymisation.key`` (owner-only permissions) and the platform
says so; with an external database the key must be given, because pseudonyms made under a lost key can never
be matched again. The generated file is written whole or not at all: a private temporary file, flushed to
disk, then hard-linked to its name, which (unlike a rename) never replaces a key another process has just
written and may already be using; so of two processes racing, both end up with the one key that won.

PostgreSQL has SHA-256 built in but no HMAC without pgcrypto, which the embedded server lacks. HMAC is
``H((K xor opad) || H((K xor ipad) || m))``, so ``ops.hmac_sha256`` takes the two padded keys. They are key
material (the key is one XOR away), and PostgreSQL writes statement text and bind parameters to its log
whenever statement or duration logging is on, so they are never either: ``use_key`` COPYs them into a
temporary table that only this session can see and that is dropped when the transaction ends (COPY's data
is never logged), and ``sql_pseudonym`` reads them from there with scalar sub-selects, which PostgreSQL
evaluates once per statement as init plans, so the per-row cost is the same as with parameters
(``bench/conform.py``). Pseudonymising client-side instead would pull every identifier out of the database
into Python and back: slower, and it would put identifiers in the client's memory for no gain.

A changed key would silently break every link between old and new pseudonyms, so ``use_key`` also compares a
fingerprint of the key, HMAC(key, "gmoda key fingerprint v1"), with the one recorded in
``ops.key_fingerprint`` when the first pseudonyms were made (the first use records it), and refuses to go on
when they differ.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from psycopg import pq, sql

from gmoda_assets.lib import database, settings

log = logging.getLogger(__name__)
BLOCK = 64  # SHA-256 block size in bytes
MIN_KEY_BYTES = 32  # as long as the hash: a shorter key is the weakest part of the HMAC
PSEUDONYM_HEX = 32  # 128 bits: collisions are negligible at any population size
FINGERPRINT_LABEL = b"gmoda key fingerprint v1"
PADS_TABLE = sql.Identifier("pg_temp", "hmac_pads")  # qualified: no table of that name elsewhere on the path is read


class PseudonymisationKeyMissing(RuntimeError):
    pass


class PseudonymisationKeyInvalid(RuntimeError):
    pass


class PseudonymisationKeyChanged(RuntimeError):
    pass


def key_file() -> Path:
    return settings.home_dir() / "pseudonymisation.key"


def generate_key_file(file: Path) -> bool:
    """Write a new random key to ``file`` unless it exists; True if this call's key is the one written."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")  # created with mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, file)
        except FileExistsError:
            return False
    finally:
        os.unlink(temporary)
    directory = os.open(file.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the new name survives a crash too
    finally:
        os.close(directory)
    return True


@cache
def _key_for(env_key: str | None, path: str, embedded: bool) -> bytes:
    if env_key:
        return _checked(env_key.encode("utf-8"), "GMODA_PSEUDONYMISATION_KEY")
    if not embedded:
        raise PseudonymisationKeyMissing(
            "GMODA_PSEUDONYMISATION_KEY is not set. With GMODA_DATABASE_URL set the key must come from the "
            "environment (a secret store), never from a file beside the code."
        )
    file = Path(path)
    if not file.exists() and generate_key_file(file):
        log.warning("Generated a pseudonymisation key in %s (owner-only). Set GMODA_PSEUDONYMISATION_KEY "
                    "to use your own; keep it safe, pseudonyms cannot be matched again without it.", file)
    return _checked(file.read_text().strip().encode("utf-8"), str(file))


def _checked(key: bytes, source: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymisationKeyInvalid(
            f"The pseudonymisation key in {source} is shorter than {MIN_KEY_BYTES} bytes. Use a random key of "
            f"at least {MIN_KEY_BYTES} bytes, e.g. the output of: python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return key


def secret_key() -> bytes:
    return _key_for(os.environ.get("GMODA_PSEUDONYMISATION_KEY"), str(key_file()), database.is_embedded())


def fingerprint(key: bytes) -> str:
    """A one-way mark of the key, safe to store: it tells whether two keys are the same, and nothing else."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class HmacPads:
    """The key as HMAC's inner and outer padded keys: what ``ops.hmac_sha256`` takes."""

    ipad: bytes
    opad: bytes

    @classmethod
    def from_key(cls, key: bytes) -> HmacPads:
        if len(key) > BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(BLOCK, b"\0")
        return cls(bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key))


def check_fingerprint(conn, key: bytes) -> None:
    """Refuse a key other than the one that made the pseudonyms already held; the first use records it.

    In the caller's transaction, so the fingerprint is recorded with the first pseudonyms or not at all (builds
    that start together on an empty warehouse wait, that once, for the first to commit)."""
    mark = fingerprint(key)
    conn.execute("INSERT INTO ops.key_fingerprint (fingerprint) VALUES (%s) ON CONFLICT DO NOTHING", (mark,))
    recorded, since = conn.execute("SELECT fingerprint, recorded_at FROM ops.key_fingerprint").fetchone()
    if recorded != mark:
        raise PseudonymisationKeyChanged(
            "The pseudonymisation key in use is not the one that made the pseudonyms already in the warehouse "
            f"(its fingerprint differs from the one recorded in ops.key_fingerprint on {since:%Y-%m-%d}); under it "
            "no new record would link to an old one. Set GMODA_PSEUDONYMISATION_KEY to the original key (with the "
            "embedded database: restore $GMODA_HOME/pseudonymisation.key). To change the key on purpose, an "
            "administrator deletes the row of ops.key_fingerprint and rebuilds staging and everything after it."
        )


def use_key(conn, key: bytes | None = None) -> None:
    """Make the key usable by ``sql_pseudonym`` for the rest of ``conn``'s current transaction.

    The pads go in by COPY into a temporary table dropped at commit or rollback: never in statement text or
    parameters, which the server may log."""
    if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
        raise RuntimeError("use_key needs an open transaction: its table of pads lives until the transaction ends")
    key = secret_key() if key is None else key
    check_fingerprint(conn, key)
    pads = HmacPads.from_key(key)
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (ipad bytea NOT NULL, opad bytea NOT NULL) ON COMMIT DROP").format(PADS_TABLE))
    with conn.cursor().copy(sql.SQL("COPY {} (ipad, opad) FROM STDIN").format(PADS_TABLE)) as copy:
        copy.write_row((pads.ipad, pads.opad))


def sql_pseudonym(message_sql: str) -> str:
    """SQL for the pseudonym of ``message_sql`` (a text expression), in a transaction after ``use_key``."""
    return sql.SQL("left(ops.hmac_sha256((SELECT ipad FROM {pads}), (SELECT opad FROM {pads}), {message}), {hex})").format(
        pads=PADS_TABLE, message=sql.SQL(message_sql), hex=sql.Literal(PSEUDONYM_HEX)).as_string()
