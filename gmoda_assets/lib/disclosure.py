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
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

import yaml

RULES_FILE = Path(__file__).resolve().parent.parent / "governance" / "disclosure.yaml"


class DisclosureError(ValueError):
    """The disclosure rules are malformed; the message names the file and the rule."""


@dataclass(frozen=True)
class Rules:
    min_count: int  # smallest count that may be published
    rounding_base: int  # published counts are multiples of it
    rate_decimals: int  # decimal places of a published percentage


@cache
def rules() -> Rules:
    """The rules in ``disclosure.yaml``, read and checked once per process."""
    document = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    expected = {"min_count": 1, "rounding_base": 1, "rate_decimals": 0}  # rule: its smallest sensible value
    if not isinstance(document, dict) or set(document) != set(expected):
        raise DisclosureError(f"{RULES_FILE.name}: the rules are exactly {', '.join(expected)}")
    for name, least in expected.items():
        value = document[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise DisclosureError(f"{RULES_FILE.name}: {name} must be a whole number from {least}, got {value!r}")
    return Rules(**document)


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
