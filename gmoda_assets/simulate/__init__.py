"""``gmoda simulate``: realistic partner drops for demos and tests, rendered from one simulated population.

``simulate(out_dir)`` draws a Greater Manchester population of six academic-year birth cohorts (born September
2016 - August 2022) with their families, addresses, development, services and outcomes, renders every feed
contract's monthly deliveries into ``out_dir/<partner>/<file name>`` (the landing zone), and writes the ground
truth into a separate folder. Same arguments, same bytes.

Modules: ``population`` (families, births, moves), ``development`` (latent development, SEN, ASQ-3, GLD model
and calibration), ``health``, ``education``, ``social_care``, ``police``, ``housing`` (each service's records),
``world`` (all of it), ``records`` (canonical record versions), ``render`` (files per contract and round, and
the delivery conventions), ``errors`` (data-quality faults and their rates), ``truth`` (ground-truth files);
helpers ``names``, ``identifiers``, ``places``, ``timeline``.
"""

from __future__ import annotations

import shutil
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from gmoda_assets.lib.contracts import feed_contracts, kinds
from gmoda_assets.lib.progress import Progress
from gmoda_assets.simulate.records import BOOKKEEPING, empty_like
from gmoda_assets.simulate.render import DeliveredFile, delivery_faults, render_feed, rounds, select, write_file
from gmoda_assets.simulate.truth import write_truth
from gmoda_assets.simulate.world import build_world

__all__ = ["SimulationSummary", "simulate"]


@dataclass
class SimulationSummary:
    """What a simulation wrote."""

    out_dir: Path
    truth_dir: Path
    scale: str
    seed: int
    children: int
    files: int
    rows_by_feed: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0

    @property
    def rows(self) -> int:
        return sum(self.rows_by_feed.values())

    def __str__(self) -> str:
        lines = [f"Simulated {self.children:,} children (scale {self.scale}, seed {self.seed}).",
                 f"Wrote {self.files} files, {self.rows:,} rows, {self.bytes_written / 1e6:.1f} MB to {self.out_dir}",
                 f"Ground truth in {self.truth_dir}", "Rows per feed:"]
        lines += [f"  {feed:<40} {rows:>10,}" for feed, rows in self.rows_by_feed.items()]
        return "\n".join(lines)


def simulate(out_dir: Path, *, scale: str = "small", seed: int = 42, months: int = 3, truth_dir: Path | None = None,
             as_of: date = date(2025, 11, 1), progress: Progress | None = None) -> SimulationSummary:
    """Write ``months`` monthly rounds of partner drops (ending with the month before ``as_of``) into
    ``out_dir/<partner>/`` and the ground truth into ``truth_dir`` (default ``<out_dir>_truth`` beside it).

    ``scale`` is ``small`` (about 1,500 children, a few seconds) or ``gm`` (Greater Manchester, about 200,000
    children). Files of the same name already in ``out_dir`` are replaced; others are left alone. ``progress`` is
    told each stage done: the population, each feed's files, the ground truth."""
    out_dir = Path(out_dir).resolve()
    truth_dir = Path(truth_dir).resolve() if truth_dir else out_dir.parent / f"{out_dir.name}_truth"
    if truth_dir == out_dir or out_dir in truth_dir.parents:
        raise ValueError(f"the ground truth ({truth_dir}) must not be inside the landing zone ({out_dir})")
    schedule = rounds(as_of, months)
    progress = progress or Progress("simulate", "stages")
    progress.start(len(feed_contracts()) + 2)
    world = build_world(scale, seed, as_of)
    progress.step(f"population of {len(world.population.children):,} children")
    files: list[DeliveredFile] = []
    written = 0
    for contract in feed_contracts():
        # Records are dropped once rendered, to keep memory down at GM scale.
        records = world.records.pop(contract.feed_id, None)
        if records is None:
            records = empty_like([*kinds()[contract.kind]["fields"], *BOOKKEEPING])
        # Each feed's errors come from its own stream, keyed by a stable hash of its id.
        rng = np.random.default_rng([seed, zlib.crc32(contract.feed_id.encode())])
        feed = render_feed(rng, contract, records)
        previous = None
        for rnd in schedule:
            positions = select(feed.records, contract, rnd, previous)
            previous = rnd
            if contract.delivery == "increment" and positions.size == 0:
                continue  # partners do not send empty increments
            drop = write_file(feed, positions, rnd)
            path = out_dir / drop.partner / drop.file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(drop.content)
            written += len(drop.content)
            drop.content = None
            files.append(drop)
        progress.step(f"{contract.feed_id} written")
    copies = delivery_faults(np.random.default_rng([seed, 0]), files, schedule, as_of)
    for copy in copies:
        shutil.copyfile(out_dir / copy.partner / copy.duplicate_of, out_dir / copy.partner / copy.file_name)
        written += (out_dir / copy.partner / copy.file_name).stat().st_size
    delivered = sorted(files + copies, key=lambda f: (f.partner, f.feed_id, f.delivered, f.file_name))
    write_truth(truth_dir, world, delivered, seed=seed, scale=scale, months=months, as_of=as_of)
    progress.step("ground truth written")
    rows = Counter()
    for f in delivered:
        rows[f.feed_id] += f.rows
    return SimulationSummary(out_dir=out_dir, truth_dir=truth_dir, scale=scale, seed=seed,
                             children=len(world.population.children), files=len(delivered),
                             rows_by_feed={c.feed_id: rows[c.feed_id] for c in feed_contracts()},
                             bytes_written=written)
