"""The ground truth of a simulation, written beside (never inside) the landing zone.

Files: ``children.csv.gz``, ``people.csv.gz`` (mothers, partners and outsiders named by the police),
``households.csv.gz``, ``addresses.csv.gz`` (each family's address history), ``social_care_episodes.csv.gz``,
``record_links.csv.gz`` (the true person of every delivered data row) and ``manifest.json`` (run settings
and, per delivered file, its rows, hash, delivery faults and injected errors).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from gmoda_assets.simulate import timeline
from gmoda_assets.simulate.development import ASQ_DOMAINS
from gmoda_assets.simulate.render import DeliveredFile
from gmoda_assets.simulate.world import World

# No timestamp in the gzip header (same world, same bytes); light compression, as these files are large.
_GZIP = {"method": "gzip", "mtime": 0, "compresslevel": 3}


def _dates(days: np.ndarray) -> np.ndarray:
    out = np.full(len(days), "", dtype=object)
    ok = np.asarray(days) >= 0
    out[ok] = np.datetime_as_string(np.asarray(days)[ok].astype("datetime64[D]"))
    return out


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, compression=_GZIP, lineterminator="\n")


def children_table(world: World) -> pd.DataFrame:
    """One row per child: identity, circumstances, development and the outcome."""
    pop = world.population
    ch = pop.children
    household = ch.household.to_numpy()
    birth = pop.periods.iloc[pop.address_at(household, ch.date_of_birth.to_numpy())]
    now = pop.periods.iloc[pop.address_at(household, np.full(len(ch), pop.cutoff))]
    asq = {d: pd.array(np.where(ch.asq_done, ch[d], 0), dtype="Int64") for d in ASQ_DOMAINS}
    for d in asq:
        asq[d][~ch.asq_done.to_numpy()] = pd.NA
    yes_no = lambda v: np.where(v, "yes", "no")  # noqa: E731
    assessed = ch.gld.notna().to_numpy()
    return pd.DataFrame({
        "child_id": ch.child_id, "nhs_number": ch.nhs_number, "upn": ch.upn, "given_name": ch.given_name,
        "family_name": ch.family_name, "date_of_birth": _dates(ch.date_of_birth.to_numpy()), "sex": ch.sex,
        "birth_cohort": timeline.academic_year_label(ch.cohort.to_numpy()), "twin": yes_no(ch.twin),
        "ethnicity": ch.ethnicity, "first_language": ch.first_language,
        "mother_id": pop.mothers.person_id.to_numpy()[household],
        "household_id": pop.households.household_id.to_numpy()[household],
        "birth_lsoa11cd": pop.lsoas.lsoa11cd.to_numpy()[birth.lsoa.to_numpy()],
        "birth_council_code": birth.lad19cd.to_numpy(),
        "lsoa11cd": pop.lsoas.lsoa11cd.to_numpy()[now.lsoa.to_numpy()], "council_code": now.lad19cd.to_numpy(),
        "imd_decile": now.imd_decile.to_numpy(), "postcode": now.postcode.to_numpy(),
        "birth_weight_grams": ch.birth_weight_grams, "gestation_weeks": ch.gestation_weeks,
        "mother_age": ch.mother_age, "feeding_new_birth": ch.feeding_new_birth,
        "feeding_six_eight_week": ch.feeding_six_eight_week, "never_breastfed": yes_no(ch.never_breastfed),
        "fsm_eligible": yes_no(ch.fsm_eligible), "sen_provision": ch.sen_provision,
        "asq_done": yes_no(ch.asq_done), **asq,
        "asq_good": np.where(ch.asq_done, yes_no(ch.asq_good), ""),
        "ever_early_help": yes_no(ch.ever_early_help), "ever_child_in_need": yes_no(ch.ever_child_in_need),
        "ever_child_protection": yes_no(ch.ever_child_protection),
        "ever_looked_after": yes_no(ch.ever_looked_after),
        "social_care_before_assessment": yes_no(ch.child_in_need_before_assessment),
        "latent_development": ch.latent_development.round(4), "school_urn": ch.school_urn,
        "assessment_year": timeline.academic_year_label(ch.assessment_year.to_numpy()),
        "eyfsp_council_code": ch.eyfsp_council, "p_gld": ch.p_gld.round(5),
        "gld": np.where(assessed, yes_no(ch.gld.fillna(False).to_numpy(dtype=bool)), ""),
    })


def people_table(world: World) -> pd.DataFrame:
    """Adults: mothers, partners, and the outsiders named in police records."""
    pop = world.population
    hh_id = pop.households.household_id.to_numpy()
    mothers = pop.mothers.assign(role="mother", sex="female", household_id=hh_id[pop.mothers.household])
    partners = pop.partners.assign(role="partner", sex="male", household_id=hh_id[pop.partners.household])
    outsiders = world.outsiders.assign(role="outsider", household_id="", nhs_number="")
    columns = ["person_id", "role", "household_id", "given_name", "family_name", "sex", "date_of_birth",
               "nhs_number"]
    people = pd.concat([t[columns] for t in (mothers, partners, outsiders)], ignore_index=True)
    people["date_of_birth"] = _dates(people.date_of_birth.to_numpy(dtype=np.int64))
    return people


def households_table(world: World) -> pd.DataFrame:
    pop = world.population
    hh = pop.households
    partner = np.full(len(hh), "", dtype=object)
    partner[pop.partners.household.to_numpy()] = pop.partners.person_id.to_numpy()
    return pd.DataFrame({
        "household_id": hh.household_id, "mother_id": pop.mothers.person_id, "partner_id": partner,
        "family_name": hh.surname, "ethnicity": hh.ethnicity, "naming_tradition": hh.tradition,
        "children": pop.children.groupby("household").size().reindex(hh.household, fill_value=0).to_numpy(),
        "low_income": hh.low_income, "two_year_eligible": hh.two_year_eligible, "working": hh.working,
        "mother_no_qualifications": hh.mother_no_qualifications, "disadvantage": hh.disadvantage.round(4),
        "adversity": hh.adversity.round(4),
    })


def addresses_table(world: World) -> pd.DataFrame:
    pop = world.population
    p = pop.periods
    return pd.DataFrame({
        "household_id": pop.households.household_id.to_numpy()[p.household], "seq": p.seq,
        "from_date": _dates(p.start.to_numpy()), "to_date": _dates(p.end.to_numpy()),
        "address_line": p.address_line, "postcode": p.postcode, "uprn": p.uprn,
        "lsoa11cd": pop.lsoas.lsoa11cd.to_numpy()[p.lsoa], "ward17cd": p.ward17cd, "lad19cd": p.lad19cd,
    })


def episodes_table(world: World) -> pd.DataFrame:
    e = world.episodes
    return pd.DataFrame({
        "child_id": world.population.children.child_id.to_numpy()[e.child], "episode_type": e.kind,
        "start_date": _dates(e.start.to_numpy()), "end_date": _dates(e.end.to_numpy()), "primary_need": e.need,
    })


def record_links(files: list[DeliveredFile]) -> pd.DataFrame:
    """The true person of every data row of every delivered file."""
    return pd.concat([pd.DataFrame({"feed_id": f.feed_id, "file_name": f.file_name,
                                    "row": np.arange(1, f.rows + 1), "person_id": f.persons, "record_key": f.keys})
                      for f in files], ignore_index=True)


def manifest(files: list[DeliveredFile], *, seed: int, scale: str, months: int, as_of: date) -> dict:
    return {
        "seed": seed, "scale": scale, "months": months, "as_of": as_of.isoformat(),
        "files": [{
            "partner": f.partner, "feed_id": f.feed_id, "file_name": f.file_name, "due_date": f.due.isoformat(),
            "delivery_date": f.delivered.isoformat(), "rows": f.rows, "sha256": f.sha256,
            "duplicate_of": f.duplicate_of, "late": f.late, "errors": f.errors,
        } for f in files],
    }


def write_truth(truth_dir: Path, world: World, files: list[DeliveredFile], **settings) -> None:
    truth_dir.mkdir(parents=True, exist_ok=True)
    _write(children_table(world), truth_dir / "children.csv.gz")
    _write(people_table(world), truth_dir / "people.csv.gz")
    _write(households_table(world), truth_dir / "households.csv.gz")
    _write(addresses_table(world), truth_dir / "addresses.csv.gz")
    _write(episodes_table(world), truth_dir / "social_care_episodes.csv.gz")
    _write(record_links(files), truth_dir / "record_links.csv.gz")
    (truth_dir / "manifest.json").write_text(json.dumps(manifest(files, **settings), indent=1) + "\n",
                                             encoding="utf-8")
