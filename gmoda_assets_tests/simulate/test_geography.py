"""The invented postcode directory: deterministic, valid, unique, and faithful to the LSOA reference."""

import hashlib

from gmoda_assets.lib import geography

# The directory must be the same on every machine and run; change this only with a deliberate re-draw.
DIRECTORY_SHA256 = "e602701c66ad17ab600220a4a8bd333f160ac5bd6d7eb53a37384d9844f63f4d"


def test_directory_is_deterministic_and_pinned():
    first = geography.postcode_directory()
    geography._directory.cache_clear()
    again = geography.postcode_directory()
    assert first.equals(again)
    digest = hashlib.sha256(first.to_csv(index=False).encode()).hexdigest()
    assert digest == DIRECTORY_SHA256, "the postcode directory changed"


def test_postcodes_are_unique_and_valid_uk_shapes():
    d = geography.postcode_directory()
    assert d.postcode.is_unique
    assert d.postcode.str.fullmatch(geography.POSTCODE_PATTERN).all()
    units = d.postcode.str[-2:]
    assert not units.str.contains("[CIKMOV]").any(), "inward units never use C, I, K, M, O or V"
    assert (d.postcode_sector == d.postcode.str[:-2]).all()
    assert (d.postcode_district == d.postcode.str.split(" ").str[0]).all()


def test_every_postcode_maps_to_one_lsoa_of_the_right_council_and_every_lsoa_has_postcodes():
    d = geography.postcode_directory()
    lsoas = geography.lsoas().set_index("lsoa11cd")
    assert d.lsoa11cd.isin(lsoas.index).all()
    assert (lsoas.loc[d.lsoa11cd, "lad19cd"].to_numpy() == d.lad19cd.to_numpy()).all()
    assert (lsoas.loc[d.lsoa11cd, "ward17cd"].to_numpy() == d.ward17cd.to_numpy()).all()
    per_lsoa = d.groupby("lsoa11cd").size()
    assert set(per_lsoa.index) == set(lsoas.index) and per_lsoa.between(10, 25).all()
    # Each council's postcodes use its own real districts (Stockport SK, Wigan WN/WA/M, ...).
    area = d.postcode_district.str.extract(r"^([A-Z]+)")[0]
    allowed = {"E08000001": {"BL"}, "E08000002": {"BL", "M"}, "E08000003": {"M"}, "E08000004": {"OL", "M"},
               "E08000005": {"OL", "M"}, "E08000006": {"M"}, "E08000007": {"SK"}, "E08000008": {"OL", "SK", "M"},
               "E08000009": {"M", "WA"}, "E08000010": {"WN", "WA", "M"}}
    for council, areas in allowed.items():
        assert set(area[d.lad19cd == council]) <= areas, council


def test_normalise_postcode():
    assert geography.normalise_postcode(" m145ab ") == "M14 5AB"
    assert geography.normalise_postcode("SK4  1AA") == "SK4 1AA"
