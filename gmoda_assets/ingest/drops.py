"""Drops: partner files in the landing zone, named by their content so that nothing is loaded twice.

A drop's id is its partition key in the ``drops`` dynamic partitions definition:
``<partner>.<feed>/<file name>@<first 12 hex digits of its SHA-256>``. A changed file under the same name has
a new id and loads; the same content under any name, in a feed that already has it, is recognised and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dagster import DynamicPartitionsDefinition

from gmoda_assets.lib.contracts import match_file
from gmoda_assets.resources.landing_zone import LandingZone

drops_partitions = DynamicPartitionsDefinition(name="drops")

HASH_CHARS = 12
UNRECOGNISED = "unrecognised"
# Substrings Dagster refuses in partition keys; a file named with one is quarantined rather than loaded.
_FORBIDDEN_IN_KEYS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")


@dataclass(frozen=True)
class Drop:
    partner: str
    file_name: str
    feed_id: str | None  # None when the file matches none of the partner's contracts
    content_hash: str

    @property
    def drop_id(self) -> str:
        return f"{self.feed_id or self.partner + '.' + UNRECOGNISED}/{self.file_name}@{self.content_hash[:HASH_CHARS]}"

    @property
    def recognised(self) -> bool:
        return self.feed_id is not None


def parse_drop_id(drop_id: str) -> tuple[str, str, str]:
    """(feed id, file name, short hash) of a drop id."""
    feed_and_file, _, short_hash = drop_id.rpartition("@")
    feed_id, _, file_name = feed_and_file.partition("/")
    if not (feed_id and file_name and short_hash):
        raise ValueError(f"'{drop_id}' is not a drop id (<partner>.<feed>/<file name>@<hash>)")
    return feed_id, file_name, short_hash


@dataclass
class Scan:
    """What one look at a partner's landing folder found."""

    new: list[Drop]  # to register and load (or quarantine)
    already_held: list[tuple[Drop, str]]  # same content as a drop already registered: (drop, that drop's id)
    hashes: dict[str, list[str]]  # file name -> [version, sha256], to reuse on the next scan


def scan_partner(
    landing_zone: LandingZone,
    partner: str,
    known_drop_ids: Iterable[str],
    cached_hashes: dict[str, list[str]] | None = None,
) -> Scan:
    """Find the partner's files that are not yet drops. Hashes are recomputed only for files whose version
    (size, times, inode) changed since ``cached_hashes`` was taken."""
    cached_hashes = cached_hashes or {}
    held: dict[tuple[str, str], str] = {}
    for drop_id in known_drop_ids:
        feed_id, _, short_hash = parse_drop_id(drop_id)
        held.setdefault((feed_id, short_hash), drop_id)

    scan = Scan(new=[], already_held=[], hashes={})
    for landed in landing_zone.list_files(partner):
        version, digest = cached_hashes.get(landed.name, (None, None))
        if version != landed.version:
            digest = landing_zone.sha256(partner, landed.name)
        scan.hashes[landed.name] = [landed.version, digest]
        contract = match_file(partner, landed.name)
        usable_name = not any(s in landed.name for s in _FORBIDDEN_IN_KEYS)
        drop = Drop(partner, landed.name, contract.feed_id if contract and usable_name else None, digest)
        earlier = held.get((drop.feed_id or f"{partner}.{UNRECOGNISED}", digest[:HASH_CHARS]))
        if earlier is not None and drop.recognised:
            scan.already_held.append((drop, earlier))
        else:
            held[(drop.feed_id or f"{partner}.{UNRECOGNISED}", digest[:HASH_CHARS])] = drop.drop_id
            scan.new.append(drop)
    return scan
