"""Dates of the simulation as integer days since 1970-01-01 (fast numpy arithmetic), and the school calendar."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

EPOCH = date(1970, 1, 1)
BIRTHS_FROM = date(2016, 9, 1)  # the oldest of the six academic-year birth cohorts
BIRTHS_TO = date(2022, 8, 31)
COHORT_YEARS = tuple(range(2016, 2022))  # academic year of birth, by its starting year
# Relative daily birth rates, September to August: births peak in late summer and early autumn.
MONTHLY_BIRTH_RATE = (1.06, 1.03, 0.99, 0.97, 0.97, 0.96, 0.99, 0.98, 1.0, 1.0, 1.04, 1.04)
_TERM_STARTS = ((9, 1), (1, 4), (4, 15))  # first day on or after which each term starts (a weekday)


def day(d: date) -> int:
    return (d - EPOCH).days


def to_datetime64(days: np.ndarray) -> np.ndarray:
    """Integer days as ``datetime64[D]``; negative sentinels (missing) become NaT."""
    out = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    out[np.asarray(days) < 0] = np.datetime64("NaT")
    return out


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of integer days."""
    d64 = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    year = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    month = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    return year, month, dom


def days_of(year: np.ndarray, month: np.ndarray, dom: np.ndarray | int = 1) -> np.ndarray:
    """Integer days of calendar dates given as arrays (day of month must be valid)."""
    months = (np.asarray(year) - 1970) * 12 + np.asarray(month) - 1
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + np.asarray(dom) - 1


def academic_year_start(days: np.ndarray) -> np.ndarray:
    """Starting calendar year of the academic year (1 September - 31 August) containing each day."""
    year, month, _ = ymd(days)
    return np.where(month >= 9, year, year - 1)


def academic_year_label(start_year: np.ndarray | int) -> np.ndarray:
    """``2024`` -> ``"2024/25"``."""
    start = np.asarray(start_year)
    return np.char.add(np.char.add(np.char.mod("%d", start), "/"), np.char.mod("%02d", (start + 1) % 100))


def seasonal(days: np.ndarray) -> np.ndarray:
    """Move days within their academic year so births follow ``MONTHLY_BIRTH_RATE`` (the order is kept)."""
    start_year = academic_year_start(days)
    start = days_of(start_year, 9)
    length = days_of(start_year + 1, 9) - start
    month_lengths = np.array([30, 31, 30, 31, 31, 28.25, 31, 30, 31, 30, 31, 31])
    x = np.concatenate([[0], np.cumsum(month_lengths)]) / month_lengths.sum()
    y = np.concatenate([[0], np.cumsum(month_lengths * MONTHLY_BIRTH_RATE)])
    frac = np.interp((days - start) / length, y / y[-1], x)
    return start + np.minimum(np.floor(frac * length).astype(np.int64), length - 1)


def term_start(year: np.ndarray, term: np.ndarray) -> np.ndarray:
    """First weekday on or after the nominal start of each term (0 autumn, 1 spring, 2 summer) of ``year``."""
    month = np.array([m for m, _ in _TERM_STARTS])[term]
    dom = np.array([d for _, d in _TERM_STARTS])[term]
    first = days_of(year, month, dom)
    weekday = (first + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    return first + np.where(weekday >= 5, 7 - weekday, 0)


def month_end(d: date) -> date:
    """The last day of the month of ``d``."""
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def add_months(d: date, months: int) -> date:
    """The first day of the month ``months`` after that of ``d``."""
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
