"""Helpers shared by the tests."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import FeedContract, match_file
from gmoda_assets.resources import LocalLandingZone

# SQL: the file of a raw row's drop, by its number (_drop) in the ledger; null for a row of a drop the ledger does
# not list, so that a test can count those too.
FILE_OF_DROP = "(SELECT d.file_name FROM ops.drops d WHERE d.drop_number = _drop)"


# SQL: every table of a drop in raw (the partitions of the feeds' tables), as a qualified name.
RAW_DROP_TABLES = ("SELECT i.inhrelid::regclass::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
                   "WHERE p.relnamespace = 'raw'::regnamespace")


def reset_platform(warehouse_url: str, instance) -> LocalLandingZone:
    """Empty landing zone and quarantine, empty raw tables and ledger, no drops registered."""
    import psycopg

    for folder in (settings.landing_dir(), settings.quarantine_dir()):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        drop_tables = [r[0] for r in conn.execute(RAW_DROP_TABLES)]  # each load makes its drop's table
        if drop_tables:
            conn.execute(f"DROP TABLE {', '.join(drop_tables)}")
        tables = [r[0] for r in conn.execute("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'raw'")]
        conn.execute(f"TRUNCATE {', '.join(tables + ['ops.drops', 'ops.drop_volumes', 'ops.drop_acceptances'])}")
    for name in registered_drops(instance):
        for key in instance.get_dynamic_partitions(name):
            instance.delete_dynamic_partition(name, key)
    return LocalLandingZone.from_settings()


def registered_drops(instance) -> dict[str, list[str]]:
    """Partitions definition name -> its keys, for every feed's definition and the old shared one."""
    from gmoda_assets.ingest.drops import SHARED_DROPS, feed_partitions

    names = [SHARED_DROPS, *(p.name for p in feed_partitions.values())]
    return {name: instance.get_dynamic_partitions(name) for name in names}


def all_drop_keys(instance) -> list[str]:
    """Every drop registered in any partitions definition."""
    return sorted(key for keys in registered_drops(instance).values() for key in keys)


def copy_drops(source: Path, landing: Path, partners: list[str] | None = None) -> list[Path]:
    """Copy simulated drops into the landing zone as a partner would deliver them."""
    copied = []
    for path in sorted(source.glob("*/*")):
        if partners is None or path.parent.name in partners:
            target = landing / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.append(target)
    return copied


def contract_of(path: Path) -> FeedContract:
    contract = match_file(path.parent.name, path.name)
    assert contract is not None, f"{path} matches no contract"
    return contract


def file_rows(path: Path) -> int:
    """Data rows in a delivered file, counted independently of the loader with Python's csv module."""
    contract = contract_of(path)
    with path.open(encoding=contract.encoding, newline="") as handle:
        return sum(1 for _ in csv.reader(handle, delimiter=contract.delimiter, quotechar=contract.quote)) - 1


def read_delivery(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a delivered file, read in its contract's encoding and delimiter."""
    contract = contract_of(path)
    with path.open(encoding=contract.encoding, newline="") as handle:
        header, *rows = csv.reader(handle, delimiter=contract.delimiter, quotechar=contract.quote)
    return header, rows


def deliver(partner: str, file_name: str, header: list[str], rows: list[list[str]]) -> Path:
    """Write a file into the landing zone as the partner would: its contract's encoding and delimiter."""
    path = settings.landing_dir() / partner / file_name
    contract = contract_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=contract.encoding, newline="") as handle:
        csv.writer(handle, delimiter=contract.delimiter, quotechar=contract.quote, lineterminator="\n").writerows([header, *rows])
    return path


def catalog_columns(conn, table: str) -> list[tuple[str, str, str | None]]:
    """The table's columns as the catalog holds them: name, type (as ``format_type`` names it) and comment, in
    order; for comparing with a spec's ``[(name, column.type, column.description)]``."""
    return conn.execute("""
        SELECT a.attname, format_type(a.atttypid, NULL), col_description(a.attrelid, a.attnum)
        FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""", (table,)).fetchall()
