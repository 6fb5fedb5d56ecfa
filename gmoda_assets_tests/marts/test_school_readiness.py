"""The school-readiness mart's disclosure control across the area hierarchy, proved by attacking it: every
suppressed cell is tried against every equation the published totals give (a ward is the sum of its LSOAs, a
council of its wards)."""

from __future__ import annotations

import numpy as np

from gmoda_assets.marts.school_readiness import RULE, publish_year

# council C: ward W1 (LSOAs a, b, c), ward W2 (LSOAs d, e); (children, reaching GLD)
COUNTS = {"a": ("C", "W1", 3, 2), "b": ("C", "W1", 40, 30), "c": ("C", "W1", 50, 31),
          "d": ("C", "W2", 30, 25), "e": ("C", "W2", 25, 12)}


def recoverable(rows: list[tuple], measure: int) -> list[tuple[str, str]]:
    """The suppressed cells of ``rows`` (level, area, parent, children, reaching, percent) that the published
    ones determine: with the published values moved to the other side, the group equations (a total minus its
    parts is 0) leave the suppressed cells free along their null space, and a cell is determined exactly when
    every direction of that space leaves it unchanged."""
    cells = [(r[0], r[1]) for r in rows]
    parent = {(r[0], r[1]): r[2] for r in rows}
    up = {"lsoa": "ward", "ward": "council"}
    groups = [[(level, code)] + [c for c in cells if up.get(c[0]) == level and parent[c] == code]
              for level, code in cells if level != "lsoa"]
    hidden = [c for c, r in zip(cells, rows) if r[measure] is None]
    if not hidden:
        return []
    equations = np.array([[(1 if c == g[0] else -1) if c in g else 0 for c in hidden] for g in groups], dtype=float)
    _, values, directions = np.linalg.svd(equations)
    free = directions[int((values > 1e-9).sum()):]  # a basis of the null space, one direction per row
    return [c for i, c in enumerate(hidden) if np.all(np.abs(free[:, i]) < 1e-9)]


def test_no_suppressed_cell_can_be_worked_out_from_the_published_totals():
    rows = publish_year(COUNTS)
    published = {(r[0], r[1]): r[3:] for r in rows}
    assert published["lsoa", "a"][0] is None  # 3 children: below the threshold
    assert recoverable(rows, 3) == [] and recoverable(rows, 4) == []
    assert sum(r[3] is None for r in rows) >= 2  # a second cell hidden beside it
    for level, code, _, children, reaching, _ in rows:
        assert children is None or (children >= RULE.min_count and children % RULE.rounding_base == 0)
        assert reaching is None or reaching % RULE.rounding_base == 0


def test_the_attack_finds_a_lone_suppressed_cell():
    """Not blind: with only the small cell hidden, its value is the ward's total minus its other LSOAs."""
    rows = publish_year(COUNTS)
    lone = [(lv, code, p, None if (lv, code) == ("lsoa", "a") else 1, *rest) for lv, code, p, _, *rest in rows]
    assert recoverable(lone, 3) == [("lsoa", "a")]


def test_hiding_climbs_the_hierarchy():
    """A ward hidden (its children below the threshold) makes its council's group hide another ward too."""
    counts = {"a": ("C", "W1", 4, 2), "b": ("C", "W1", 4, 3), "d": ("C", "W2", 30, 25), "e": ("C", "W2", 25, 12),
              "f": ("C", "W3", 60, 40)}
    rows = publish_year(counts)
    hidden = {(r[0], r[1]) for r in rows if r[3] is None}
    assert ("ward", "W1") in hidden and len(hidden & {("ward", "W2"), ("ward", "W3"), ("council", "C")}) >= 1
    assert recoverable(rows, 3) == [] and recoverable(rows, 4) == []
