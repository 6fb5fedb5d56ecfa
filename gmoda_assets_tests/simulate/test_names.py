"""Name lists: every name can be written by every system, after the transliteration cp1252 systems apply."""

import numpy as np

from gmoda_assets.simulate import names


def test_every_name_survives_windows_1252_after_transliteration():
    everyone = {n for lists in names.TRADITIONS.values() for names_ in lists for n in names_}
    everyone |= {v for options in names.VARIANTS.values() for v in options}
    for name in everyone:
        name.translate(names.TRANSLITERATION).encode("cp1252")
    assert any(not n.isascii() and n.translate(names.TRANSLITERATION) == n for n in everyone), \
        "some accented names are kept by Windows-1252 systems"
    assert any(n.translate(names.TRANSLITERATION) != n for n in everyone), "and some must be transliterated"


def test_polish_surnames_take_the_feminine_form():
    assert list(names.feminine(np.array(["Kowalski", "Nowak", "Zieliński"], dtype=object))) == \
        ["Kowalska", "Nowak", "Zielińska"]


def test_every_ethnicity_has_naming_traditions():
    from gmoda_assets.simulate.population import ETHNICITIES

    assert set(names.ETHNIC_TRADITIONS) == set(ETHNICITIES)
    assert all(set(t) <= set(names.TRADITIONS) for t in names.ETHNIC_TRADITIONS.values())
