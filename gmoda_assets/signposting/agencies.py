"""The signposting pilot's agencies (``agencies.yaml``): each one's signal feed, contact route and database role."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints

from gmoda_assets.lib.contracts import feed_contracts, partners
from gmoda_assets.lib.documents import Strict, read

AGENCIES_FILE = Path(__file__).with_name("agencies.yaml")
ROLE_PREFIX = "gmoda_signpost_"  # an agency's practitioners act as gmoda_signpost_<agency>


class AgencyError(ValueError):
    """agencies.yaml is malformed or names a partner or feed that has no contract."""


class Agency(Strict):
    feed: str
    contact: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class AgenciesFile(Strict):
    agencies: dict[str, Agency] = Field(min_length=1)


@cache
def agencies() -> dict[str, Agency]:
    """The pilot's agencies by partner id, each checked against partners.yaml and the feed contracts."""
    found = read(AGENCIES_FILE, AgenciesFile, AgencyError).agencies
    contracted = {c.feed_id for c in feed_contracts()}
    for partner, agency in found.items():
        if partner not in partners():
            raise AgencyError(f"{AGENCIES_FILE.name}: agencies.{partner}: not in partners.yaml")
        if f"{partner}.{agency.feed}" not in contracted:
            raise AgencyError(f"{AGENCIES_FILE.name}: agencies.{partner}.feed: no contract for {partner}.{agency.feed}")
    return found


def signal_feeds() -> dict[str, str]:
    """Each agency's signal feed id (``<partner>.<feed>``) to the agency."""
    return {f"{partner}.{agency.feed}": partner for partner, agency in agencies().items()}


def role(agency: str) -> str:
    return ROLE_PREFIX + agency
