"""Per-domain child features as of a prediction point, from the linked conformed facts.

Each domain (births, health visiting, funded early education, children's social care) is one ``Domain``: the
conformed fact it reads, the partner feeds that fact rests on (for the agreements), the SQL that reads its
records as events (``person_key``, ``event_date`` and the values the features need, plus the area of the
record where it has one), and a function that turns the events of each child dated **before** the child's
prediction date into that domain's features. ``features_as_of`` applies the rule that keeps the future out:
an event is seen only if its date is known and earlier than the child's prediction date. Nothing else in a
domain looks at a date after the point, except social care's "open at the point" (an episode that started
before the point and had not ended by it), which is what a worker would have known on that day.

The functions take and return pandas frames, and each reads only its own fact, so a product with another
purpose (synthetic data, for one) can use the domains its agreements permit (``permitted``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets.lib.frames import query_frame
from gmoda_assets.lib.governance import agreements_covering

if TYPE_CHECKING:
    import pandas as pd

# Where a record was: its LSOA and what dim_geography says of it (null when the record had no known area).
AREA = ("lsoa11cd", "ward17cd", "lad19cd", "imd19_decile")
_AREA_SQL = "g.lsoa11cd, g.ward17cd, g.lad19cd, g.imd19_decile"
_GEOGRAPHY = "LEFT JOIN conformed.dim_geography AS g ON g.geography_key = f.geography_key AND g.geography_key <> -1"


@dataclass(frozen=True)
class Domain:
    name: str
    fact: tuple[str, str]  # the conformed fact's asset key
    feeds: str  # the feeds the fact is built from, as a <partner>.<feed> glob
    query: str  # person_key, event_date (null when unknown), the values, and AREA where the fact has an area
    summarise: Callable[[pd.DataFrame, Mapping], pd.DataFrame]  # events before the point -> features by person_key
    columns: tuple[str, ...]  # the features it gives

    @property
    def feed_ids(self) -> list[str]:
        return [c.feed_id for c in feed_contracts() if fnmatchcase(c.feed_id, self.feeds)]

    def read(self, conn) -> pd.DataFrame:
        import pandas as pd
        frame = query_frame(conn, self.query)
        frame["event_date"] = pd.to_datetime(frame["event_date"])
        return frame


def permitted(domains: list[Domain], purpose: str) -> list[Domain]:
    """The domains whose every feed some agreement in the agreements file permits for ``purpose`` (whether it is
    live today is the product's run-time check: a permitted feed whose agreement has ended fails it loudly)."""
    return [d for d in domains
            if all(any(purpose in a["purposes"] for a in agreements_covering(f)) for f in d.feed_ids)]


def before_point(events: pd.DataFrame, points: pd.Series) -> pd.DataFrame:
    """The events dated before their child's prediction date (``points``: prediction date by person key). An
    event without a date, or of a child not in ``points``, is left out: it cannot be shown to precede the point."""
    if events.empty or points.empty:
        return events.iloc[0:0]
    point = events["person_key"].map(points)
    return events[events["event_date"].notna() & point.notna() & (events["event_date"] < point)]


def features_as_of(domain: Domain, events: pd.DataFrame, points: pd.Series, settings: Mapping) -> pd.DataFrame:
    """``domain``'s features of every child in ``points`` from the events before each one's point (a child with
    none gets the domain's "nothing recorded" values)."""
    import pandas as pd

    seen = before_point(events, points)
    if seen.empty:  # a new install, or a domain with nothing before anyone's point: nothing recorded
        return pd.DataFrame(index=points.index, columns=list(domain.columns)).rename_axis("person_key")
    found = domain.summarise(seen.assign(prediction_date=seen["person_key"].map(points)), settings)
    return found.reindex(points.index).rename_axis("person_key")


def latest_area(frames: list[pd.DataFrame], points: pd.Series) -> pd.DataFrame:
    """Each child's area at the point: that of their latest record before it that has one."""
    import pandas as pd

    areas = pd.concat([before_point(f, points)[["person_key", "event_date", *AREA]] for f in frames
                       if set(AREA) <= set(f.columns)])
    areas = areas[areas["lsoa11cd"].notna()].sort_values(["person_key", "event_date", "lsoa11cd"])
    return areas.groupby("person_key")[list(AREA)].last().reindex(points.index)


# --- births (NHS) -------------------------------------------------------------------------------------------

def _births(events: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    import pandas as pd
    first = events.sort_values(["person_key", "record_key"]).groupby("person_key").first()
    weeks = first["gestation_weeks"].astype("Float64")
    grams = first["birth_weight_grams"].astype("Float64")
    return pd.DataFrame({
        "sex": first["sex"].where(first["sex"].isin(["female", "male"])),
        "ethnicity": first["ethnicity"].where(first["ethnicity"] != "not_stated"),
        "birth_weight_grams": grams,
        "gestation_weeks": weeks,
        "preterm": weeks < 37,
        "low_birth_weight": grams < 2500,
        "mother_age": first["mother_age"].astype("Float64"),
        "birth_council_code": first["lad19cd"],
    })


BIRTHS = Domain(
    "births", ("conformed", "fact_births"), "nhs.births",
    f"""SELECT f.person_key, f.record_key, d.date AS event_date, f.sex, f.birth_weight_grams, f.gestation_weeks,
               f.ethnicity, f.mother_age, {_AREA_SQL}
        FROM conformed.fact_births AS f JOIN conformed.dim_date AS d ON d.date_key = f.birth_month_date_key
        {_GEOGRAPHY} WHERE f.person_key <> -1""",
    _births,
    ("sex", "ethnicity", "birth_weight_grams", "gestation_weeks", "preterm", "low_birth_weight", "mother_age",
     "birth_council_code"))


# --- health-visiting reviews (NHS) --------------------------------------------------------------------------

ASQ = ("asq_communication", "asq_gross_motor", "asq_fine_motor", "asq_problem_solving", "asq_personal_social")


def _health_visiting(events: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    import pandas as pd
    by_child = events.groupby("person_key")
    fed = events[events["breastfeeding"].isin(["exclusive", "partial", "none"])]
    asq = events[(events["review_type"] == "two_year") & events["asq_complete"].fillna(False).astype(bool)]
    latest = asq.sort_values(["person_key", "event_date", "record_key"]).groupby("person_key")[list(ASQ)].last()
    below = sum((latest[d] <= settings["asq_cutoffs"][d]).astype(int) for d in ASQ)
    return pd.DataFrame({
        "hv_reviews": by_child.size(),
        "ever_breastfed": fed.assign(yes=fed["breastfeeding"] != "none").groupby("person_key")["yes"].any(),
        **{d: latest[d].astype("Float64") for d in ASQ},
        "asq_domains_below_cutoff": below,
    })


HEALTH_VISITING = Domain(
    "health_visiting", ("conformed", "fact_health_visiting_reviews"), "nhs.hv_reviews",
    f"""SELECT f.person_key, f.record_key, d.date AS event_date, f.review_type, f.breastfeeding,
               {", ".join(f"f.{c}" for c in ASQ)}, f.asq_complete, {_AREA_SQL}
        FROM conformed.fact_health_visiting_reviews AS f JOIN conformed.dim_date AS d ON d.date_key = f.review_date_key
        {_GEOGRAPHY} WHERE f.person_key <> -1""",
    _health_visiting,
    ("hv_reviews", "ever_breastfed", *ASQ, "asq_domains_below_cutoff"))


# --- funded early education (councils) ----------------------------------------------------------------------

def _early_education(events: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    import pandas as pd
    by_child = events.groupby("person_key")
    return pd.DataFrame({
        "funded_terms": by_child.size(),
        "two_year_funded": events.assign(two=events["funding_stream"] == "two_year_disadvantaged")
                                 .groupby("person_key")["two"].any(),
    })


EARLY_EDUCATION = Domain(
    "early_education", ("conformed", "fact_funded_early_education"), "*.funded_early_education",
    f"""SELECT f.person_key, d.date AS event_date, f.funding_stream, {_AREA_SQL}
        FROM conformed.fact_funded_early_education AS f JOIN conformed.dim_date AS d ON d.date_key = f.start_date_key
        {_GEOGRAPHY} WHERE f.person_key <> -1""",
    _early_education,
    ("funded_terms", "two_year_funded"))


# --- children's social care (councils) ----------------------------------------------------------------------

STATUTORY = ("child_in_need", "child_protection", "looked_after")


def _social_care(events: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    import pandas as pd
    flags = events.assign(
        early_help=events["episode_type"] == "early_help",
        statutory=events["episode_type"].isin(STATUTORY),
        # open at the point: started before it (every event here did) and not ended before it
        open=events["end_date"].isna() | (pd.to_datetime(events["end_date"]) >= events["prediction_date"]))
    by_child = flags.groupby("person_key")
    return pd.DataFrame({
        "social_care_episodes": by_child.size(),
        "early_help_before_point": by_child["early_help"].any(),
        "statutory_care_before_point": by_child["statutory"].any(),
        "social_care_open_at_point": by_child["open"].any(),
    })


SOCIAL_CARE = Domain(
    "social_care", ("conformed", "fact_social_care_episodes"), "*.social_care",
    f"""SELECT f.person_key, s.date AS event_date, e.date AS end_date, f.episode_type, {_AREA_SQL}
        FROM conformed.fact_social_care_episodes AS f JOIN conformed.dim_date AS s ON s.date_key = f.start_date_key
        JOIN conformed.dim_date AS e ON e.date_key = f.end_date_key
        {_GEOGRAPHY} WHERE f.person_key <> -1""",
    _social_care,
    ("social_care_episodes", "early_help_before_point", "statutory_care_before_point", "social_care_open_at_point"))

DOMAINS = [BIRTHS, HEALTH_VISITING, EARLY_EDUCATION, SOCIAL_CARE]
# What a child with no record of a domain before the point has: none of its events, and not unknown.
NOTHING_RECORDED = {"hv_reviews": 0, "funded_terms": 0, "two_year_funded": False, "social_care_episodes": 0,
                    "early_help_before_point": False, "statutory_care_before_point": False,
                    "social_care_open_at_point": False}


def fill_nothing_recorded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.fillna({k: v for k, v in NOTHING_RECORDED.items() if k in frame.columns})

