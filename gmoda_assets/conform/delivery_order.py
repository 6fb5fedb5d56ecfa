"""Which of a feed's drops is the newest delivery: the order staging takes snapshots and record versions in.

Drops load in whatever order their runs happen to finish, so processing time says little about which delivery
is newer. The partner's delivery date does: it is in the file name, by the contract's ``{date:...}``
template. Processing order only breaks ties (two files for one date, or for one month when the name carries
no day). A name that matches its contract but holds no real date counts as delivered on the day it was
processed. A drop the volume guard holds back (``ingest/volume.py``) is not a delivery to build from until a
person accepts it.
"""

from __future__ import annotations

from gmoda_assets.lib.contracts import FeedContract

HELD = "SELECT drop_id FROM ops.drops_held_back WHERE feed_id = %s"


def delivery_order(conn, contract: FeedContract) -> list[str]:
    """The feed's loaded drops, oldest delivery first, leaving out those held back and not accepted."""
    drops = conn.execute(f"SELECT drop_id, file_name, processed_at FROM ops.drops WHERE feed_id = %s AND status = 'loaded' "
                         f"AND drop_id NOT IN ({HELD})", (contract.feed_id, contract.feed_id)).fetchall()
    return [drop_id for drop_id, file_name, processed_at in sorted(
        drops, key=lambda d: (contract.delivery_date(d[1]) or d[2].date(), d[2], d[0]))]


def held_back(conn, contract: FeedContract) -> list[str]:
    """The feed's drops held back by the volume guard and not accepted: in raw, but not to be staged."""
    return [r[0] for r in conn.execute(HELD, (contract.feed_id,))]


def drop_numbers(conn, drop_ids: list[str]) -> list[int]:
    """The drops' numbers, which raw rows hold (``_drop``)."""
    return conn.execute("SELECT coalesce(array_agg(drop_number), '{}') FROM ops.drops WHERE drop_id = ANY(%s)",
                        (drop_ids,)).fetchone()[0]
