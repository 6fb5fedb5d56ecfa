"""What is synthesised and compared, as the configuration names it: light enough to load with the code location
(pandas is imported only where rows are handled)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Variable:
    """A column to synthesise: a ``category`` (any values, compared as they are) or a ``number`` rounded to a
    multiple of ``precision``; ``smooth`` adds kernel noise to a number before it is rounded."""

    name: str
    kind: Literal["category", "number"]
    precision: float | None = None
    smooth: bool = False


@dataclass(frozen=True)
class Rate:
    """A key rate: the share of rows with ``column`` recorded whose value is one of ``equals`` (or, for a number,
    at most ``at_most``)."""

    name: str
    column: str
    equals: tuple = ()
    at_most: float | None = None

    def flags(self, frame: pd.DataFrame) -> pd.Series:
        import pandas as pd

        values = frame[self.column]
        if self.at_most is not None:
            numbers = pd.to_numeric(values, errors="coerce")
            return (numbers <= self.at_most).where(numbers.notna())
        return values.isin(list(self.equals)).where(values.notna())
