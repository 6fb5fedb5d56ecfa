"""Which of a feed's drops is the newest delivery: the order staging takes snapshots and record versions in.

Drops load in whatever order their runs happen to finish, so processing time says little about which delivery
is newer. The partner's delivery date does: it is in the file name, by the contract's ``{date:...}``
template. Processing order only breaks ties (two files for one date, or for one month when the name carries
no day). A name that matches its contract but holds no real date counts as delivered on the day it was
processed. A drop the volume guard holds back (``ingest/volume.py``) is not a delivery to build from until a
person accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gmoda_assets.lib.contracts import FeedContract

HELD = "SELECT drop_id FROM ops.drops_held_back WHERE feed_id = %s"


@dataclass(frozen=True)
class Delivery:
    drop_id: str
    delivered_on: date
    volume: float  # as the volume guard measured it (rows loaded for a drop it did not)


def deliveries(conn, contract: FeedContract) -> list[Delivery]:
    """The feed's loaded drops, oldest delivery first, leaving out those held back and not accepted."""
    drops = conn.execute(
        "SELECT d.drop_id, d.file_name, d.processed_at, coalesce(v.value, d.rows_loaded) FROM ops.drops d "
        f"LEFT JOIN ops.drop_volumes v USING (drop_id) WHERE d.feed_id = %s AND d.status = 'loaded' "
        f"AND d.drop_id NOT IN ({HELD})", (contract.feed_id, contract.feed_id)).fetchall()
    dated = [(contract.delivery_date(file_name) or processed_at.date(), processed_at, drop_id, volume)
             for drop_id, file_name, processed_at, volume in drops]
    return [Delivery(drop_id, delivered_on, float(volume)) for delivered_on, _, drop_id, volume in sorted(dated)]


def delivery_order(conn, contract: FeedContract) -> list[str]:
    """The feed's loaded drops' ids, oldest delivery first, leaving out those held back and not accepted."""
    return [d.drop_id for d in deliveries(conn, contract)]


def held_back(conn, contract: FeedContract) -> list[str]:
    """The feed's drops held back by the volume guard and not accepted: in raw, but not to be staged."""
    return [r[0] for r in conn.execute(HELD, (contract.feed_id,))]


def drop_numbers(conn, drop_ids: list[str]) -> list[int]:
    """The drops' numbers, which raw rows hold (``_drop``)."""
    return conn.execute("SELECT coalesce(array_agg(drop_number), '{}') FROM ops.drops WHERE drop_id = ANY(%s)",
                        (drop_ids,)).fetchone()[0]
