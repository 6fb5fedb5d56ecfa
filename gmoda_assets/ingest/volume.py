"""The volume guard: a delivery that shrinks past its contract's threshold is held back from staging.

Each drop loaded is compared, in the transaction that loads it, with the feed's last good delivery before it
(by delivery date; a held drop is not good until accepted). A snapshot is measured in rows, the records the
partner holds; an increment in rows per month since the previous delivery. A drop whose measure falls by more
than the contract's ``max_shrink`` is held: it stays in raw (nothing is lost), its raw asset's blocking check
``volume_as_expected`` fails with the counts, and staging keeps building from the last good delivery until a
person accepts the drop (``gmoda drops accept``), which is recorded with who, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from gmoda_assets.conform.delivery_order import deliveries
from gmoda_assets.lib.contracts import FeedContract

CHECK_NAME = "volume_as_expected"


@dataclass(frozen=True)
class Volume:
    drop_id: str
    measure: str  # rows | rows_per_month
    value: float
    previous_drop_id: str | None
    previous_value: float | None
    max_shrink: float | None
    held: bool
    accepted_by: str | None = None
    reason: str | None = None

    @property
    def change(self) -> float | None:
        """Relative change against the previous delivery (-0.92: 92% fewer)."""
        return None if not self.previous_value else self.value / self.previous_value - 1


def check_spec(contract: FeedContract) -> AssetCheckSpec:
    guarded = (f"may not shrink by more than {contract.max_shrink:.0%} of the {_measure_text(contract)} of"
               if contract.max_shrink is not None else "is compared (not guarded: the contract sets no max_shrink) with")
    return AssetCheckSpec(
        CHECK_NAME, asset=AssetKey(contract.asset_key), blocking=True,
        description=f"A delivery {guarded} the feed's last good delivery. A drop that shrinks past the threshold "
                    "is held back: kept in raw, left out of staging (which keeps the last good delivery) until "
                    "someone accepts it with `gmoda drops accept <drop_id> --reason ...`.")


def _measure_text(contract: FeedContract) -> str:
    return "rows" if contract.delivery == "snapshot" else "rows per month"


def record_volume(conn, contract: FeedContract, drop_id: str, rows: int, run_id: str | None = None) -> Volume:
    """Measure a drop just recorded as loaded against the feed's last good delivery before it, and record the
    verdict. Runs inside the load's transaction, under its lock on the feed, so no refresh sees the drop
    before its verdict."""
    order = deliveries(conn, contract)  # the drop's volume and date, and its previous delivery's, in one query
    at = [d.drop_id for d in order].index(drop_id)
    previous = order[at - 1] if at > 0 else None
    value, previous_value = float(rows), None
    if previous:
        previous_value = previous.volume
        if contract.delivery == "increment":
            value = rows / _months_between(previous.delivered_on, order[at].delivered_on)
    held = bool(contract.max_shrink is not None and previous_value
                and value < previous_value * (1 - contract.max_shrink))
    volume = Volume(drop_id, "rows" if contract.delivery == "snapshot" else "rows_per_month", round(value, 3),
                    previous.drop_id if previous else None, previous_value, contract.max_shrink, held)
    conn.execute("INSERT INTO ops.drop_volumes (drop_id, feed_id, measure, value, previous_drop_id, previous_value, "
                 "max_shrink, held, dagster_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                 "ON CONFLICT (drop_id) DO NOTHING",
                 (drop_id, contract.feed_id, volume.measure, volume.value, volume.previous_drop_id, previous_value,
                  contract.max_shrink, held, run_id))
    return volume


def _months_between(earlier: date, later: date) -> int:
    """Whole calendar months between two delivery dates (at least 1)."""
    return max(1, (later.year - earlier.year) * 12 + later.month - earlier.month)


def recorded_volume(conn, drop_id: str) -> Volume | None:
    row = conn.execute(
        "SELECT v.drop_id, v.measure, v.value, v.previous_drop_id, v.previous_value, v.max_shrink, v.held, "
        "a.accepted_by, a.reason FROM ops.drop_volumes v LEFT JOIN ops.drop_acceptances a USING (drop_id) "
        "WHERE v.drop_id = %s", (drop_id,)).fetchone()
    if row is None:
        return None
    floats = [None if x is None else float(x) for x in (row[2], row[4], row[5])]
    return Volume(row[0], row[1], floats[0], row[3], floats[1], floats[2], row[6], row[7], row[8])


def check_result(contract: FeedContract, drop_id: str, volume: Volume | None) -> AssetCheckResult:
    """The ``volume_as_expected`` result of a drop: failing while it is held and not accepted."""
    if volume is None:  # loaded before the guard existed
        return AssetCheckResult(asset_key=AssetKey(contract.asset_key), check_name=CHECK_NAME, passed=True,
                                metadata={"drop": drop_id, "verdict": "no volume recorded (loaded before the guard)"})
    held = volume.held and volume.accepted_by is None
    if volume.previous_drop_id is None:
        verdict = "first delivery of the feed: nothing to compare with"
    elif held:
        verdict = (f"HELD BACK: {volume.value:g} {volume.measure.replace('_', ' ')} against {volume.previous_value:g} in "
                   f"{volume.previous_drop_id} ({volume.change:+.1%}, more than the {volume.max_shrink:.0%} allowed); "
                   f"staging keeps the last good delivery until it is accepted: "
                   f"gmoda drops accept '{drop_id}' --reason '...'")
    elif volume.held:
        verdict = f"shrank past the threshold, accepted by {volume.accepted_by}: {volume.reason}"
    else:
        verdict = f"{volume.change:+.1%} against {volume.previous_drop_id}" if volume.change is not None else "compared"
    return AssetCheckResult(
        asset_key=AssetKey(contract.asset_key), check_name=CHECK_NAME, passed=not held,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "drop": drop_id, "verdict": verdict, "measure": volume.measure, "value": volume.value,
            "previous_drop": volume.previous_drop_id or "", "previous_value": volume.previous_value,
            "change_percent": None if volume.change is None else round(100 * volume.change, 1),
            "max_shrink_percent": None if volume.max_shrink is None else round(100 * volume.max_shrink, 1),
            "held_back": held, "accepted_by": volume.accepted_by or "",
        },
    )


def held_drops(conn) -> list[tuple]:
    """Drops held back and not yet accepted: drop id, measure, value, previous drop and value, when."""
    return conn.execute("SELECT drop_id, measure, value, previous_drop_id, previous_value, checked_at "
                        "FROM ops.drops_held_back ORDER BY checked_at").fetchall()


class NotHeld(ValueError):
    """The drop named is not held back (unknown, never held, or already accepted)."""


def accept(conn, drop_id: str, accepted_by: str, reason: str) -> None:
    """Record that a person accepts a held drop as a true delivery; the next refresh stages it."""
    if not reason.strip():
        raise ValueError("give the reason the delivery is accepted (--reason)")
    with conn.transaction():
        row = conn.execute("SELECT v.held, a.accepted_by, a.accepted_at FROM ops.drop_volumes v LEFT JOIN "
                           "ops.drop_acceptances a USING (drop_id) WHERE v.drop_id = %s", (drop_id,)).fetchone()
        if row is None or not row[0]:
            raise NotHeld(f"Drop {drop_id} is not held back by the volume guard"
                          f"{'' if row else ' (no such loaded drop)'}: nothing to accept.")
        if row[1] is not None:
            raise NotHeld(f"Drop {drop_id} was already accepted by {row[1]} at {row[2]:%Y-%m-%d %H:%M}.")
        conn.execute("INSERT INTO ops.drop_acceptances (drop_id, accepted_by, reason) VALUES (%s, %s, %s)",
                     (drop_id, accepted_by, reason.strip()))
