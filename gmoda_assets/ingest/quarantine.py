"""Setting a rejected file aside: moved out of the landing zone beside its reason, and recorded in the ledger."""

from __future__ import annotations

from gmoda_assets.ingest.drops import parse_drop_id
from gmoda_assets.ingest.loader import FileChanged, count_data_lines, describe_rejection, record_quarantine
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.digest import sha256_of
from gmoda_assets.resources.landing_zone import LandingZone


def unrecognised_reason(drop_id: str, partner: str, file_name: str) -> dict:
    patterns = [c.file_name for c in feed_contracts() if c.partner == partner]
    return {
        "drop_id": drop_id,
        "file": file_name,
        "problem": f"file name matches no feed contract of partner '{partner}' (unknown feed)",
        "expected": patterns or f"no feeds are contracted from partner '{partner}'",
        "found": file_name,
    }


def quarantine_drop(conn, landing_zone: LandingZone, partner: str, drop_id: str, reason: dict,
                    run_id: str | None = None) -> dict:
    """Move the drop's file to quarantine with ``reason`` (completed with the row counts and where it went),
    record it in ``ops.drops``, and return the completed reason. A file whose content is no longer the drop's
    is left where it is (FileChanged): its new content is a new drop."""
    feed_id, file_name, short_hash = parse_drop_id(drop_id)
    digest = sha256_of(landing_zone.iter_chunks(partner, file_name))
    if not digest.hexdigest().startswith(short_hash):
        raise FileChanged(f"Drop {drop_id}: file '{file_name}' has changed since it was registered; not quarantined "
                          "(its new content is registered as a new drop).")
    rows = count_data_lines(landing_zone, partner, file_name)
    reason = {**reason, "partner": partner, "feed_id": feed_id, "rows_delivered": rows, "rows_quarantined": rows,
              "rows_loaded": 0, "message": describe_rejection(reason)}
    location = landing_zone.quarantine(partner, file_name, drop_id, reason)
    reason["quarantine_path"] = location
    known_feed = feed_id if any(c.feed_id == feed_id for c in feed_contracts()) else None
    with conn.transaction():
        record_quarantine(conn, drop_id, partner, known_feed, file_name, digest.hexdigest(), digest.size, rows, reason,
                          location, run_id)
    return reason
