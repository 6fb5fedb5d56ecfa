"""Statistical disclosure control for published aggregates. The rules are configuration
(``governance/disclosure.yaml``: threshold, rounding base, rate precision); these functions apply them.

A published table is made of additive groups: cells of which one is the sum of the others (female, male and
all children of one council and year). Within a group, for each count published:

* primary suppression hides every cell below ``min_count``; for a count of children with an outcome, also
  the cells where fewer than ``min_count`` children did not reach it (the complement is the published count
  of children minus this one), and the cells whose count of children is hidden (a rate and its count would
  give that back);
* secondary suppression: a group with exactly one hidden cell would give it away (the total minus the
  published parts, or the parts added up), so the smallest other cell is hidden too. With two or more hidden,
  the one equation a group obeys cannot pin any of them down;
* what is published is rounded: counts to the nearest ``rounding_base``, rates (from the unrounded counts) to
  ``rate_decimals`` places. A rate is published only beside its count.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field

from gmoda_assets.lib.documents import Strict, read

RULES_FILE = Path(__file__).resolve().parent.parent / "governance" / "disclosure.yaml"


class DisclosureError(ValueError):
    """The disclosure rules are malformed; the message names the file and the rule."""


class Rules(Strict):
    min_count: Annotated[int, Field(strict=True, ge=1)]  # smallest count that may be published
    rounding_base: Annotated[int, Field(strict=True, ge=1)]  # published counts are multiples of it
    rate_decimals: Annotated[int, Field(strict=True, ge=0)]  # decimal places of a published percentage


@cache
def rules() -> Rules:
    """The rules in ``disclosure.yaml``, read and checked once per process."""
    return read(RULES_FILE, Rules, DisclosureError)


def secondary(cells: Mapping[str, int], hidden: set[str]) -> set[str]:
    """``hidden`` and, when it is exactly one cell of the group, the smallest other cell (ties: first name)."""
    if len(hidden) != 1:
        return set(hidden)
    others = sorted((value, name) for name, value in cells.items() if name not in hidden)
    return hidden | {others[0][1]} if others else set(hidden)


def rounded(count: int, base: int) -> int:
    """``count`` to the nearest multiple of ``base``, halves up."""
    return (2 * count + base) // (2 * base) * base


def protect_rates(group: Mapping[str, tuple[int, int]], rule: Rules) -> dict[str, tuple[int | None, int | None, Decimal | None]]:
    """One additive group of cells ``{name: (children, children with the outcome)}``, published:
    ``{name: (children, with the outcome, percentage)}`` with None for each hidden value."""
    children = {name: n for name, (n, _) in group.items()}
    with_outcome = {name: m for name, (_, m) in group.items()}
    hide_children = secondary(children, {name for name, n in children.items() if n < rule.min_count})
    small = {name for name, (n, m) in group.items() if m < rule.min_count or n - m < rule.min_count}
    hide_outcome = secondary(with_outcome, hide_children | small)
    quantum = Decimal(1).scaleb(-rule.rate_decimals)
    return {
        name: (None if name in hide_children else rounded(n, rule.rounding_base),
               None if name in hide_outcome else rounded(m, rule.rounding_base),
               None if name in hide_outcome else (Decimal(100 * m) / n).quantize(quantum, ROUND_HALF_UP))
        for name, (n, m) in group.items()
    }
