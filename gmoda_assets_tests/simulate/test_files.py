"""Simulated partner drops: byte-for-byte reproducible, each file exactly as its contract says, every injected
error recorded, and the ground truth kept out of the landing zone."""

import csv
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from gmoda_assets.lib.contracts import feed_contracts, match_file
from gmoda_assets.lib.geography import POSTCODE_PATTERN, normalise_postcode
from gmoda_assets.simulate import simulate
from gmoda_assets.simulate.identifiers import is_valid_nhs_number

# Kinds of injected error that may leave a value that does not parse, validate or appear at all.
BREAKS_DATES = {"date_impossible", "required_missing"}
BREAKS_CODES = {"unknown_code", "required_missing"}
BREAKS_NHS = {"nhs_bad_check", "nhs_short"}
BREAKS_POSTCODES = {"postcode_malformed"}
EMPTIES = {"required_missing", "nhs_missing", "postcode_missing"}


def _run(root: Path, seed: int) -> tuple[Path, Path]:
    out = root / "landing"
    simulate(out, scale="small", seed=seed, months=3)
    return out, root / "landing_truth"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {name: _run(tmp_path_factory.mktemp(name), seed) for name, seed in
            (("first", 42), ("again", 42), ("other", 43))}


@pytest.fixture(scope="module")
def landing(runs) -> Path:
    return runs["first"][0]


@pytest.fixture(scope="module")
def manifest(runs) -> dict:
    return json.loads((runs["first"][1] / "manifest.json").read_text())


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_files(runs):
    first, again, other = (_hashes(runs[k][0]) for k in ("first", "again", "other"))
    assert first == again
    assert set(first) & set(other), "the same deliveries are due whatever the seed"
    assert all(first[name] != other[name] for name in set(first) & set(other))
    assert (runs["first"][1] / "manifest.json").read_bytes() == (runs["again"][1] / "manifest.json").read_bytes()


def test_no_dependence_on_hash_randomisation(runs, tmp_path):
    out = tmp_path / "landing"
    code = f"from pathlib import Path; from gmoda_assets.simulate import simulate; simulate(Path({str(out)!r}))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert _hashes(out) == _hashes(runs["first"][0])


def test_landing_zone_holds_only_partner_drops_and_truth_lives_beside_it(runs, tmp_path):
    landing, truth = runs["first"]
    partners = {c.partner for c in feed_contracts()}
    for path in landing.rglob("*"):
        relative = path.relative_to(landing).parts
        if path.is_dir():
            assert len(relative) == 1 and relative[0] in partners
        else:
            assert len(relative) == 2 and match_file(relative[0], relative[1]) is not None, path
    assert truth.parent == landing.parent and not truth.is_relative_to(landing)
    assert {p.name for p in truth.iterdir()} >= {"children.csv.gz", "people.csv.gz", "households.csv.gz",
                                                 "record_links.csv.gz", "manifest.json"}
    with pytest.raises(ValueError, match="must not be inside"):
        simulate(tmp_path / "landing", truth_dir=tmp_path / "landing" / "truth")


def test_every_feed_delivers_in_every_convention(landing, manifest):
    files = manifest["files"]
    assert {f["feed_id"] for f in files} == {c.feed_id for c in feed_contracts()}
    assert sum(1 for f in files if f["duplicate_of"]) >= 1 and sum(1 for f in files if f["late"]) >= 1
    contracts = {c.feed_id: c for c in feed_contracts()}
    for f in files:
        path = landing / f["partner"] / f["file_name"]
        content = path.read_bytes()
        assert hashlib.sha256(content).hexdigest() == f["sha256"]
        contract = contracts[f["feed_id"]]
        if f["duplicate_of"]:
            assert content == (landing / f["partner"] / f["duplicate_of"]).read_bytes()
            assert f["delivery_date"] > f["due_date"]
        elif f["late"]:
            assert contract.delivery == "increment" and f["delivery_date"] > f["due_date"]
        else:
            assert f["file_name"] == contract.render_file_name(date.fromisoformat(f["delivery_date"]))
    # Unchanged snapshots repeat byte for byte: no new EYFSP results arrive in September or October.
    eyfsp = [f["sha256"] for f in files if f["feed_id"] == "bolton.eyfsp"]
    assert len(eyfsp) == 3 and len(set(eyfsp)) == 1


def _read(path: Path, contract) -> tuple[bytes, list[list[str]]]:
    raw = path.read_bytes()
    text = raw.decode(contract.encoding)  # raises if the file is not in the contract's encoding
    return raw, list(csv.reader(io.StringIO(text, newline=""), delimiter=contract.delimiter,
                                quotechar=contract.quote))


def test_files_match_their_contracts_except_where_errors_are_recorded(landing, manifest):
    contracts = {c.feed_id: c for c in feed_contracts()}
    non_ascii_cp1252 = False
    for f in manifest["files"]:
        contract = contracts[f["feed_id"]]
        raw, rows = _read(landing / f["partner"] / f["file_name"], contract)
        assert rows[0] == [c.name for c in contract.columns], f["file_name"]
        assert raw.startswith(b"\xef\xbb\xbf") == (contract.encoding == "utf-8-sig")
        newline = b"\r\n" if contract.encoding == "cp1252" else b"\n"
        assert raw.endswith(newline) and raw.count(b"\n") == raw.count(newline) == f["rows"] + 1
        non_ascii_cp1252 |= contract.encoding == "cp1252" and any(b > 127 for b in raw)
        assert len(rows) - 1 == f["rows"]
        errors = {(e["row"], e["column"]): e["kind"] for e in f["errors"]}
        for number, row in enumerate(rows[1:], start=1):
            assert len(row) == len(contract.columns), (f["file_name"], number)
            for column, value in zip(contract.columns, row):
                kind = errors.get((number, column.name))
                if kind in EMPTIES:
                    assert value == ""
                if column.required and kind is None:
                    assert value != "", (f["file_name"], number, column.name)
                if not value:
                    continue
                if column.type in ("date", "datetime") and kind not in BREAKS_DATES:
                    datetime.strptime(value, column.format)
                if column.type == "code":
                    assert (value in column.values) == (kind not in BREAKS_CODES), (f["file_name"], number, value)
                if column.identifier == "nhs_number":
                    assert is_valid_nhs_number(value.replace(" ", "")) == (kind not in BREAKS_NHS), value
                    assert (" " in value) == (kind == "nhs_spaced")
                if column.source == "postcode":
                    valid = POSTCODE_PATTERN.fullmatch(normalise_postcode(value)) is not None
                    assert valid == (kind not in BREAKS_POSTCODES), value
                    assert (value == normalise_postcode(value)) == (kind not in {"postcode_lowercase",
                                                                                 "postcode_no_space"}) or not valid
    assert non_ascii_cp1252, "Windows-1252 files carry accented names"


def test_errors_are_rare_and_varied(manifest):
    rows = sum(f["rows"] for f in manifest["files"])
    kinds = pd.Series([e["kind"] for f in manifest["files"] for e in f["errors"]])
    bad_rows = {(f["file_name"], e["row"]) for f in manifest["files"] for e in f["errors"]
                if e["kind"] != "nhs_missing"}
    assert len(bad_rows) < 0.01 * rows
    assert {"name_typo", "nhs_spaced", "postcode_no_space", "duplicate_row", "nhs_missing"} <= set(kinds)


def test_record_links_name_the_true_person_of_every_row(landing, runs, manifest):
    truth = runs["first"][1]
    links = pd.read_csv(truth / "record_links.csv.gz", dtype=str)
    assert len(links) == sum(f["rows"] for f in manifest["files"])
    children = pd.read_csv(truth / "children.csv.gz", dtype=str).set_index("child_id")
    people = pd.read_csv(truth / "people.csv.gz", dtype=str).set_index("person_id")
    assert links.person_id.isin(children.index.union(people.index)).all()
    # Where no error touched it, a row's NHS number is its true person's.
    births = next(f for f in manifest["files"] if f["feed_id"] == "nhs.births")
    contract = next(c for c in feed_contracts() if c.feed_id == "nhs.births")
    _, rows = _read(landing / "nhs" / births["file_name"], contract)
    touched = {e["row"] for e in births["errors"]}
    in_file = links[links.file_name == births["file_name"]]
    linked = in_file.set_index(in_file.row.astype(int)).person_id
    nhs = rows[0].index("NHSNumber")
    checked = [(row[nhs], children.nhs_number[linked[n]]) for n, row in enumerate(rows[1:], start=1)
               if n not in touched]
    assert len(checked) > 1000 and all(a == b for a, b in checked)


def test_truth_children_have_outcomes_only_once_assessed(runs):
    children = pd.read_csv(runs["first"][1] / "children.csv.gz", dtype=str, keep_default_na=False)
    years = children.groupby("assessment_year").gld.apply(lambda g: set(g) - {""})
    assert years["2024/25"] == {"yes", "no"} and years["2025/26"] == set() and years["2026/27"] == set()
    assert children.p_gld.astype(float).between(0, 1).all()
    with gzip.open(runs["first"][1] / "children.csv.gz", "rt") as handle:
        assert handle.readline().startswith("child_id,nhs_number,")
