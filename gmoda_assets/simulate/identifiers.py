"""Identifiers in the shapes real systems use: NHS numbers, unique pupil numbers, random unique numbers."""

from __future__ import annotations

import numpy as np

NHS_WEIGHTS = np.arange(10, 1, -1)  # weights of the first nine digits
UPN_LETTERS = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"))
# DfE local-authority numbers of the ten councils (the second to fourth characters of a UPN).
DFE_LA_NUMBERS = {
    "E08000001": 350, "E08000002": 351, "E08000003": 352, "E08000004": 353, "E08000005": 354,
    "E08000006": 355, "E08000007": 356, "E08000008": 357, "E08000009": 358, "E08000010": 359,
}


def unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """``n`` distinct random integers in [low, high), in random order."""
    if n > high - low:
        raise ValueError(f"cannot draw {n} distinct integers from a range of {high - low}")
    found = np.empty(0, dtype=np.int64)
    while found.size < n:
        more = np.concatenate([found, rng.integers(low, high, int((n - found.size) * 1.3) + 16)])
        _, first = np.unique(more, return_index=True)
        found = more[np.sort(first)]
    return found[:n]


def nhs_check_digit(body: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit of nine-digit bodies; 10 marks a body that no NHS number may use."""
    digits = (body[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    check = 11 - (digits * NHS_WEIGHTS).sum(axis=1) % 11
    return np.where(check == 11, 0, check)


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct valid NHS numbers as ten-digit strings (England's 4xx-7xx ranges)."""
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        body = unique_ints(rng, int((n - out.size) * 1.15) + 16, 400_000_000, 800_000_000)
        check = nhs_check_digit(body)
        numbers = (body * 10 + check)[check != 10]
        out = np.concatenate([out, numbers[~np.isin(numbers, out)]])
    return np.char.mod("%010d", out[:n]).astype(object)


def is_valid_nhs_number(value: str) -> bool:
    """True for ten digits whose last is the modulus-11 check digit of the first nine."""
    if len(value) != 10 or not value.isdigit():
        return False
    check = int(nhs_check_digit(np.array([int(value[:9])]))[0])
    return check != 10 and check == int(value[9])


def upns(la_number: np.ndarray, establishment: np.ndarray, year: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """DfE unique pupil numbers: check letter, LA number, establishment, two-digit year, three-digit serial."""
    body = np.char.add(
        np.char.add(np.char.mod("%03d", la_number), np.char.mod("%04d", establishment)),
        np.char.add(np.char.mod("%02d", year % 100), np.char.mod("%03d", serial)),
    )
    digits = body.astype("U12").view(np.uint32).reshape(len(body), 12).astype(np.int64) - ord("0")
    check = UPN_LETTERS[(digits * np.arange(2, 14)).sum(axis=1) % 23]
    return np.char.add(check, body).astype(object)


def prefixed(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Identifiers such as ``CL0012345``: a prefix and a zero-padded number."""
    return np.char.add(prefix, np.char.mod(f"%0{width}d", numbers)).astype(object)
