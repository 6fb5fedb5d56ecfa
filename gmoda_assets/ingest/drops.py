"""Drops: partner files in the landing zone, named by their content so that nothing is loaded twice.

A drop's id is its partition key in its feed's dynamic partitions definition (``drops__<partner>__<feed>``), so
a raw asset's partitions are exactly its feed's drops: ``<partner>.<feed>/<file name>@<first 12 hex digits of
its SHA-256>``. A changed file under the same name has a new id and loads; the same content under any name, in
a feed that already has it, is recognised and skipped.

Whether content is held is decided by the drop ledger (``ops.drops``), which is written in the same transaction
as the rows, never by Dagster's partitions: a partition is registered before its run, so a run that dies leaves
a partition whose file is still to load.

A file becomes a drop only once it has settled, so a file still being written is neither loaded half-way nor
failed: when first seen, if the store says it has not been written for the settle time (its status-change time,
which every write, truncate or rename moves and no client can set back); otherwise once two scans at least the
settle time apart have seen it unchanged (size, times and SHA-256).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dagster import DynamicPartitionsDefinition

from gmoda_assets.lib.contracts import feed_contracts, match_file
from gmoda_assets.resources.landing_zone import LandingZone, Refused, check_file_name, check_partner

# Before each feed had its own, every drop was a key of this one definition (moved by ``move_shared_drops``).
SHARED_DROPS = "drops"
# Feed id -> the dynamic partitions definition of its drops (a Dagster name: letters, digits, underscores).
feed_partitions = {c.feed_id: DynamicPartitionsDefinition(name=f"drops__{c.raw_table}") for c in feed_contracts()}

HASH_CHARS = 12
UNRECOGNISED = "unrecognised"
# Substrings Dagster refuses in partition keys; a file named with one is quarantined rather than loaded.
_FORBIDDEN_IN_KEYS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")
_SHORT_HASH = re.compile(f"[0-9a-f]{{{HASH_CHARS}}}")


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
    """(feed id, file name, short hash) of a drop id, after checking that it names a partner in partners.yaml,
    one of its contracted feeds (whose file-name pattern the name matches) or its unrecognised files, and a
    plain file name: a partition key or run config can never point outside the partner's landing folder."""
    feed_and_file, _, short_hash = drop_id.rpartition("@")
    feed_id, _, file_name = feed_and_file.partition("/")
    if not (feed_id and file_name and _SHORT_HASH.fullmatch(short_hash)):
        raise ValueError(f"'{drop_id}' is not a drop id (<partner>.<feed>/<file name>@<12 hex digits>)")
    partner, _, feed = feed_id.partition(".")
    check_partner(partner)
    check_file_name(partner, file_name)
    if feed != UNRECOGNISED:
        contract = next((c for c in feed_contracts() if c.feed_id == feed_id), None)
        if contract is None:
            raise ValueError(f"Drop '{drop_id}': '{feed_id}' is not a contracted feed of partner '{partner}'")
        if not contract.matches(file_name):
            raise ValueError(f"Drop '{drop_id}': file name '{file_name}' does not match the file name of feed "
                             f"{feed_id} ({contract.file_name})")
    return feed_id, file_name, short_hash


def move_shared_drops(instance) -> list[str]:
    """Move the keys of an instance's one shared ``drops`` definition into their feeds' definitions, so runs and
    materialisations recorded under them stay with their raw assets; return the keys moved. Idempotent: a key
    is deleted from ``drops`` only once its feed's definition holds it. A key of no contracted feed stays put."""
    moved = []
    for key in instance.get_dynamic_partitions(SHARED_DROPS):
        if (partitions := feed_partitions.get(key.partition("/")[0])) is not None:
            instance.add_dynamic_partitions(partitions.name, [key])
            instance.delete_dynamic_partition(SHARED_DROPS, key)
            moved.append(key)
    return moved


def held_content(conn, partner: str) -> dict[tuple[str, str], str]:
    """(feed id, SHA-256) -> drop id of everything the ledger holds from the partner's contracted feeds
    (loaded, recognised as a re-delivery, or quarantined)."""
    rows = conn.execute(
        "SELECT feed_id, content_hash, drop_id FROM ops.drops WHERE partner = %s AND feed_id IS NOT NULL "
        "ORDER BY processed_at DESC", (partner,)).fetchall()
    return {(feed_id, digest): drop_id for feed_id, digest, drop_id in rows}


@dataclass
class Scan:
    """What one look at a partner's landing folder found."""

    new: list[Drop] = field(default_factory=list)  # settled, not held: to register and load (or quarantine)
    already_held: list[tuple[Drop, str]] = field(default_factory=list)  # (drop, the drop that holds its content)
    unsettled: list[str] = field(default_factory=list)  # file names still changing, or not yet seen twice
    settled_now: set[str] = field(default_factory=set)  # file names that settled on this scan
    refused: list[Refused] = field(default_factory=list)  # never read or moved
    # file name -> [version, sha256, when this version was first seen (epoch s), settled]: the next scan's start
    seen: dict[str, list] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # file name -> bytes


def scan_partner(
    landing_zone: LandingZone,
    partner: str,
    held: dict[tuple[str, str], str],
    previous: dict[str, list] | None,
    now: float,
    settle_seconds: float,
) -> Scan:
    """Find the partner's files that are not yet held (``held``: from ``held_content``). ``previous`` is the
    ``seen`` of the scan before (empty for a first look). A file is hashed when its version (size, times, inode)
    changed. A version the store last changed at least ``settle_seconds`` ago has settled as it is; a younger
    one is hashed once more when it settles, to confirm its bytes did not change either."""
    previous = previous or {}
    listing = landing_zone.list_files(partner)
    scan = Scan(refused=listing.refused)
    held = dict(held)
    for landed in listing.files:
        before = previous.get(landed.name)
        seen_before = before is not None and before[0] == landed.version
        if seen_before:
            _, digest, since, settled = before
        else:  # first seen, or changed since the last scan: the settle time starts again
            digest, since = landing_zone.sha256(partner, landed.name), now
            # Not written for the settle time already, by the store's own clock: no second look needed. A time
            # ahead of ours proves nothing, so that file waits for the second look.
            settled = landed.changed_at is not None and now - landed.changed_at >= settle_seconds
            if settled:
                scan.settled_now.add(landed.name)
        contract = match_file(partner, landed.name)
        usable_name = not any(s in landed.name for s in _FORBIDDEN_IN_KEYS)
        feed_id = contract.feed_id if contract and usable_name else None
        earlier = held.get((feed_id, digest)) if feed_id else None
        # (A clock set back since the first look must not hold a file back.)
        if earlier is None and seen_before and not settled and not 0 <= now - since < settle_seconds:
            confirmed = landing_zone.sha256(partner, landed.name)
            settled = confirmed == digest
            if settled:
                scan.settled_now.add(landed.name)
            else:
                digest, since = confirmed, now
        scan.seen[landed.name] = [landed.version, digest, since, settled]
        scan.sizes[landed.name] = landed.size
        drop = Drop(partner, landed.name, feed_id, digest)
        if earlier is not None:
            scan.already_held.append((drop, earlier))
        elif not settled:
            scan.unsettled.append(landed.name)
        else:
            if drop.recognised:  # a second file with the same content in this scan is held by the first
                held[(feed_id, digest)] = drop.drop_id
            scan.new.append(drop)
    return scan
