"""The pseudonymisation key: long enough, written whole and once, and the same key for every pseudonym held
(gmoda_assets/lib/pseudonymise.py, sql/050_key_fingerprint.sql). Fingerprint tests log in as a transformer,
the role staging runs as, so they hold without superuser."""

import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import time

import psycopg
import pytest
from dagster import materialize

from gmoda_assets.conform.staging import staging_assets
from gmoda_assets.lib import pseudonymise
from gmoda_assets.lib.pseudonymise import (
    HmacPads,
    PseudonymisationKeyChanged,
    PseudonymisationKeyInvalid,
    fingerprint,
    generate_key_file,
    secret_key,
    use_key,
)
from gmoda_assets.resources import Warehouse

TRANSFORMER = "test_key_transformer"


def key_forms(key: bytes) -> list[str]:
    """How key material could be written in a message: as text, in hex, and each pad in hex."""
    pads = HmacPads.from_key(key)
    return [key.decode("latin-1"), key.hex(), pads.ipad.hex(), pads.opad.hex()]


def test_short_key_is_refused_without_showing_it(monkeypatch, tmp_path):
    short = "k" * 31
    monkeypatch.setenv("GMODA_PSEUDONYMISATION_KEY", short)
    with pytest.raises(PseudonymisationKeyInvalid, match="shorter than 32 bytes") as refused:
        secret_key()
    assert short not in str(refused.value)
    monkeypatch.setenv("GMODA_PSEUDONYMISATION_KEY", "k" * 32)
    assert secret_key() == b"k" * 32
    # A short key in the key file (the embedded database's) is refused the same way.
    monkeypatch.delenv("GMODA_PSEUDONYMISATION_KEY")
    monkeypatch.setattr(pseudonymise, "key_file", lambda: tmp_path / "pseudonymisation.key")
    (tmp_path / "pseudonymisation.key").write_text("tooshort\n")
    with pytest.raises(PseudonymisationKeyInvalid, match="pseudonymisation.key is shorter") as refused:
        secret_key()
    assert "tooshort" not in str(refused.value)


RACER = """
import pathlib, sys
from gmoda_assets.lib import pseudonymise
go = pathlib.Path(sys.argv[1])
while not go.exists():
    pass
print(pseudonymise._key_for(None, sys.argv[2], True).decode())
"""


def test_racing_processes_end_with_one_key(tmp_path):
    """Eight processes released together to make the embedded database's key: one key file, written once
    with owner-only permissions, and every process uses the key in it."""
    file, go = tmp_path / "home" / "pseudonymisation.key", tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(go), str(file)], stdout=subprocess.PIPE, text=True)
              for _ in range(8)]
    time.sleep(3)  # all started and spinning
    go.touch()
    used = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert [racer.returncode for racer in racers] == [0] * 8
    assert used == {file.read_text().strip()}
    assert len(next(iter(used))) == 64
    assert file.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in file.parent.iterdir()) == [file.name]  # no temporary file left behind


def test_failed_key_write_leaves_no_key_file(monkeypatch, tmp_path):
    """A write that fails before the key is whole on disk leaves no key file (and no temporary file), so the
    next start generates a whole key rather than reading half of one."""
    file = tmp_path / "pseudonymisation.key"

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        generate_key_file(file)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert generate_key_file(file) and not generate_key_file(file)
    assert len(file.read_text().strip()) == 64


@pytest.fixture
def transformer(warehouse_url):
    """A login in gmoda_transformer, and the warehouse's recorded fingerprint put back afterwards."""
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {TRANSFORMER}")
        admin.execute(f"CREATE ROLE {TRANSFORMER} LOGIN IN ROLE gmoda_transformer")
        recorded = admin.execute("SELECT fingerprint, recorded_at FROM ops.key_fingerprint").fetchall()
        try:
            yield lambda: psycopg.connect(warehouse_url, user=TRANSFORMER, autocommit=True)
        finally:
            with admin.transaction():
                admin.execute("DELETE FROM ops.key_fingerprint")
                admin.cursor().executemany("INSERT INTO ops.key_fingerprint (fingerprint, recorded_at) VALUES (%s, %s)", recorded)
            admin.execute(f"DROP OWNED BY {TRANSFORMER}")
            admin.execute(f"DROP ROLE {TRANSFORMER}")


def _pseudonym(conn, message: str) -> str:
    return conn.execute(f"SELECT {pseudonymise.sql_pseudonym('%s')}", (message,)).fetchone()[0]


def test_first_use_records_the_key_and_another_key_is_refused(warehouse_url, transformer):
    first, second = secrets.token_bytes(32), secrets.token_bytes(32)
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        admin.execute("DELETE FROM ops.key_fingerprint")
    with transformer() as conn:
        with conn.transaction():
            use_key(conn, first)
            made = _pseudonym(conn, "nhs:9434765919")
        assert made == hmac.new(first, b"nhs:9434765919", hashlib.sha256).hexdigest()[:32]
        assert conn.execute("SELECT fingerprint FROM ops.key_fingerprint").fetchall() == [(fingerprint(first),)]
        # The same key again: accepted, and the same pseudonym.
        with conn.transaction():
            use_key(conn, first)
            assert _pseudonym(conn, "nhs:9434765919") == made
        with pytest.raises(PseudonymisationKeyChanged, match="ops.key_fingerprint") as refused, conn.transaction():
            use_key(conn, second)
        message = str(refused.value)
        assert not any(form in message for key in (first, second) for form in key_forms(key))
        assert "GMODA_PSEUDONYMISATION_KEY" in message
        # The transformer may not move the record to another key either.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE ops.key_fingerprint SET fingerprint = %s", (fingerprint(second),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM ops.key_fingerprint")


def test_the_pads_are_gone_when_the_transaction_ends(warehouse_url, transformer):
    with transformer() as conn:
        with conn.transaction():
            use_key(conn)
            assert conn.execute("SELECT count(*) FROM pg_temp.hmac_pads").fetchone() == (1,)
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM pg_temp.hmac_pads")


def _staged_births(url: str):
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('staging.nhs__births')").fetchone()[0] is None:
            return None
        return conn.execute("SELECT count(*), max(record_key) FROM staging.nhs__births").fetchone()


def test_staging_refuses_a_changed_key(warehouse_url, transformer, monkeypatch):
    """A staging build under a key other than the recorded one fails, saying what to do, and leaves the
    staging table as it was."""
    with transformer() as conn, conn.transaction():
        use_key(conn)  # the warehouse's key is recorded (if this worker has not staged anything yet)
    births = next(a for a in staging_assets if a.key.path == ["staging", "nhs", "births"])
    before = _staged_births(warehouse_url)
    other = secrets.token_hex(32)
    monkeypatch.setenv("GMODA_PSEUDONYMISATION_KEY", other)
    result = materialize([births], resources={"warehouse": Warehouse()}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "not the one that made the pseudonyms" in failure.to_string()
    assert not any(form in failure.to_string() for form in key_forms(other.encode()))
    assert _staged_births(warehouse_url) == before
