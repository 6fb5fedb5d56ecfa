"""Feed contracts: what each partner delivers, read from the YAML files in ``gmoda_assets/contracts``.

A feed contract (``contracts/feeds/<partner>.<feed>.yaml``) names its partner, its data-sharing agreement,
the file name the partner uses, and the extract ``system`` it comes from. The system file
(``contracts/systems/<system>.yaml``) holds the columns as delivered, their types, date formats and codes,
the delimiter and encoding, and whether the partner sends full snapshots or increments; a feed may override
``format`` or ``delivery``. Either may set ``cadence`` (how often the feed is due: ``weekly``, ``monthly``, the
default, or ``quarterly``) and ``volume: {max_shrink: <share>}`` (how much a delivery may shrink against the
last good one before it is held back; ``DEFAULT_MAX_SHRINK`` otherwise), the feed's setting winning. Each delivered column maps (``source``) onto a field of the canonical schema of
its kind of feed (``contracts/kinds.yaml``), which also says which fields are direct identifiers.

Raw assets, their loaders and checks, and the simulator are all generated from these contracts, so a new feed
is a new YAML file.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

import yaml

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
AGREEMENTS_FILE = Path(__file__).resolve().parent.parent / "governance" / "agreements.yaml"

COLUMN_TYPES = {"text", "integer", "decimal", "date", "datetime", "code"}
DELIVERY_MODES = {"snapshot", "increment"}
# How often a feed is due, in days; a feed is overdue a week after that (a monthly extract is sent on a
# different working day each month, and can be held up by a bank holiday or a team's leave).
CADENCE_DAYS = {"weekly": 7, "monthly": 31, "quarterly": 92}
OVERDUE_GRACE_DAYS = 7
# Share of its volume a delivery may lose against the feed's last good one before it is held back. A snapshot
# holds every record the partner holds, and these records (children assessed, episodes, tenancies) change by a
# few percent a month, so a 10% fall is a broken extract far more often than a real one, and staging it would
# delete those records from the warehouse. An increment adds to what is held and cannot delete anything; its
# size swings with the month's activity (a backfill, then a few rows), so it is not guarded unless its contract
# says so; a missing increment shows as an overdue feed.
DEFAULT_MAX_SHRINK = {"snapshot": 0.10, "increment": None}
# Python codec name -> PostgreSQL client encoding used by COPY.
PG_ENCODINGS = {"utf-8": "UTF8", "utf-8-sig": "UTF8", "cp1252": "WIN1252", "latin-1": "LATIN1"}
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


class ContractError(ValueError):
    """A contract file is malformed or inconsistent; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    name: str  # as the partner delivers it, in the file header
    source: str  # canonical field of the feed's kind
    type: str = "text"
    format: str | None = None  # strftime format of date and datetime columns
    values: dict[str, str] | None = None  # delivered code -> canonical value
    required: bool = False
    identifier: str | None = None  # kind of direct identifier, from kinds.yaml

    @property
    def db_name(self) -> str:
        """The column's name in the raw table: the delivered name in snake case."""
        return db_identifier(self.name)


@dataclass(frozen=True)
class FeedContract:
    partner: str
    feed: str
    kind: str
    system: str
    agreement: str
    delivery: str
    file_name: str  # template: {date:<strftime>} stands for the delivery date
    delimiter: str
    encoding: str
    quote: str
    columns: tuple[Column, ...]
    path: Path = field(compare=False)
    cadence: str = "monthly"  # how often the partner delivers (CADENCE_DAYS)
    max_shrink: float | None = None  # share of volume a delivery may lose before it is held back; None: unguarded

    @property
    def overdue_after_days(self) -> int:
        return CADENCE_DAYS[self.cadence] + OVERDUE_GRACE_DAYS

    @property
    def feed_id(self) -> str:
        return f"{self.partner}.{self.feed}"

    @property
    def asset_key(self) -> list[str]:
        return ["raw", self.partner, self.feed]

    @property
    def raw_table(self) -> str:
        """Table name in schema ``raw``."""
        return f"{self.partner}__{self.feed}"

    @property
    def pg_encoding(self) -> str:
        return PG_ENCODINGS[self.encoding]

    def column(self, source: str) -> Column | None:
        return next((c for c in self.columns if c.source == source), None)

    def render_file_name(self, delivered: date) -> str:
        return _PLACEHOLDER.sub(lambda m: format(delivered, m.group(0)[1:-1].split(":", 1)[1]), self.file_name)

    def matches(self, file_name: str) -> bool:
        return self._file_pattern.fullmatch(file_name) is not None

    def delivery_date(self, file_name: str) -> date | None:
        """The delivery date the file name carries by the template (the 1st when it names only a month), or None
        when the name does not match or its date is not a real one (``20240231``)."""
        found = self._file_pattern.fullmatch(file_name)
        if found is None or not found.groups():
            return None
        try:
            return datetime.strptime(found.group(1), self._date_formats[0]).date()
        except ValueError:
            return None

    @property
    def _date_formats(self) -> list[str]:
        return [m.group(0)[1:-1].split(":", 1)[1] for m in _PLACEHOLDER.finditer(self.file_name)]

    @property
    def _file_pattern(self) -> re.Pattern:
        literal = _PLACEHOLDER.split(self.file_name)
        dates = [f"({_date_regex(fmt)})" for fmt in self._date_formats]
        return re.compile("".join(re.escape(part) + (dates[i] if i < len(dates) else "") for i, part in enumerate(literal)))


_DATE_DIRECTIVES = {"%Y": "[0-9]{4}", "%y": "[0-9]{2}", "%m": "[0-9]{2}", "%d": "[0-9]{2}", "%B": "[A-Z][a-z]+", "%b": "[A-Z][a-z]{2}"}


def _date_regex(fmt: str) -> str:
    """A regex for the text strftime ``fmt`` writes in a file name (only the directives file names use)."""
    return "".join(_DATE_DIRECTIVES.get(t, re.escape(t)) for t in re.split(r"(%[A-Za-z])", fmt) if t)


def db_identifier(name: str) -> str:
    """A delivered column name as a lower-case SQL identifier (``Date of Birth`` -> ``date_of_birth``)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.strip())
    ident = re.sub(r"[^0-9a-zA-Z]+", "_", snake).strip("_").lower()
    return ident if ident and not ident[0].isdigit() else f"c_{ident}"


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{path}: expected a mapping at the top level")
    return data


@cache
def kinds() -> dict[str, dict]:
    """Canonical schema of each kind of feed: {kind: {"grain": ..., "fields": {name: spec}}}."""
    return _read_yaml(CONTRACTS_DIR / "kinds.yaml")["kinds"]


@cache
def partners() -> dict[str, dict]:
    """Partners by id, in the order of ``partners.yaml``."""
    return {p["id"]: p for p in _read_yaml(CONTRACTS_DIR / "partners.yaml")["partners"]}


@cache
def agreements() -> dict[str, dict]:
    """Data-sharing agreements by id."""
    return {a["id"]: a for a in _read_yaml(AGREEMENTS_FILE)["agreements"]}


def load_contract(path: Path) -> FeedContract:
    """Read one feed contract, merged with its system, and check it for consistency."""
    feed = _read_yaml(path)

    def need(mapping: dict, key: str, where: Path):
        if key not in mapping:
            raise ContractError(f"{where}: missing required key '{key}'")
        return mapping[key]

    system_name = need(feed, "system", path)
    system_path = CONTRACTS_DIR / "systems" / f"{system_name}.yaml"
    if not system_path.exists():
        raise ContractError(f"{path}: system '{system_name}' has no file {system_path}")
    system = _read_yaml(system_path)
    kind = need(system, "kind", system_path)
    if kind not in kinds():
        raise ContractError(f"{system_path}: unknown kind '{kind}' (known: {sorted(kinds())})")
    kind_fields = kinds()[kind]["fields"]
    fmt = {**need(system, "format", system_path), **feed.get("format", {})}
    partner, feed_name = need(feed, "partner", path), need(feed, "feed", path)
    if path.name != f"{partner}.{feed_name}.yaml":
        raise ContractError(f"{path}: file must be named {partner}.{feed_name}.yaml")
    if partner not in partners():
        raise ContractError(f"{path}: partner '{partner}' is not in partners.yaml")
    agreement = need(feed, "agreement", path)
    if agreement not in agreements():
        raise ContractError(f"{path}: agreement '{agreement}' is not in governance/agreements.yaml")
    delivery = feed.get("delivery", need(system, "delivery", system_path))
    if delivery not in DELIVERY_MODES:
        raise ContractError(f"{path}: delivery must be one of {sorted(DELIVERY_MODES)}, not '{delivery}'")
    encoding = codecs.lookup(need(fmt, "encoding", system_path)).name
    if encoding not in PG_ENCODINGS:
        raise ContractError(f"{path}: encoding '{encoding}' is not supported (use one of {sorted(PG_ENCODINGS)})")
    delimiter = need(fmt, "delimiter", system_path)
    if len(delimiter) != 1:
        raise ContractError(f"{path}: delimiter must be one character, not {delimiter!r}")

    cadence = feed.get("cadence", system.get("cadence", "monthly"))
    if cadence not in CADENCE_DAYS:
        raise ContractError(f"{path}: cadence must be one of {sorted(CADENCE_DAYS)}, not '{cadence}'")
    volume = {**system.get("volume", {}), **feed.get("volume", {})}
    if set(volume) - {"max_shrink"}:
        raise ContractError(f"{path}: volume knows only 'max_shrink', not {sorted(set(volume) - {'max_shrink'})}")
    max_shrink = volume.get("max_shrink", DEFAULT_MAX_SHRINK[delivery])
    if max_shrink is not None and (isinstance(max_shrink, bool) or not isinstance(max_shrink, (int, float))
                                   or not 0 <= max_shrink <= 1):
        raise ContractError(f"{path}: volume.max_shrink must be a share between 0 and 1 (or null), not {max_shrink!r}")

    columns = []
    for spec in need(system, "columns", system_path):
        name, source = need(spec, "name", system_path), need(spec, "source", system_path)
        if source not in kind_fields:
            raise ContractError(f"{system_path}: column '{name}' maps to '{source}', not a field of kind '{kind}'")
        col_type = spec.get("type", "code" if "values" in spec else "text")
        if col_type not in COLUMN_TYPES:
            raise ContractError(f"{system_path}: column '{name}' has unknown type '{col_type}'")
        if col_type in {"date", "datetime"} and not spec.get("format"):
            raise ContractError(f"{system_path}: {col_type} column '{name}' needs a strftime 'format'")
        values = {str(k): str(v) for k, v in spec["values"].items()} if "values" in spec else None
        allowed = kind_fields[source].get("values")
        if values and allowed and not set(values.values()) <= set(allowed):
            raise ContractError(
                f"{system_path}: column '{name}' maps codes to {sorted(set(values.values()) - set(allowed))}, "
                f"not values of {kind}.{source}"
            )
        columns.append(
            Column(
                name=name,
                source=source,
                type=col_type,
                format=spec.get("format"),
                values=values,
                required=bool(spec.get("required", False)),
                identifier=kind_fields[source].get("identifier"),
            )
        )
    missing_key = [f for f in kinds()[kind].get("key", []) if f not in {c.source for c in columns}]
    if missing_key:
        raise ContractError(f"{system_path}: no column delivers record key field(s) {missing_key} of kind '{kind}'")
    db_names = [c.db_name for c in columns]
    if len(set(db_names)) != len(db_names):
        raise ContractError(f"{system_path}: two columns map to the same raw column name: {db_names}")
    return FeedContract(
        partner=partner,
        feed=feed_name,
        kind=kind,
        system=system_name,
        agreement=agreement,
        delivery=delivery,
        file_name=need(feed, "file_name", path),
        delimiter=delimiter,
        encoding=encoding,
        quote=fmt.get("quote", '"'),
        columns=tuple(columns),
        path=path,
        cadence=cadence,
        max_shrink=None if max_shrink is None else float(max_shrink),
    )


@cache
def feed_contracts() -> tuple[FeedContract, ...]:
    """Every feed contract in the package, ordered by partner (as in partners.yaml) then feed."""
    order = list(partners())
    found = [load_contract(p) for p in sorted((CONTRACTS_DIR / "feeds").glob("*.yaml"))]
    return tuple(sorted(found, key=lambda c: (order.index(c.partner), c.feed)))


def contract_for(feed_id: str) -> FeedContract:
    for contract in feed_contracts():
        if contract.feed_id == feed_id:
            return contract
    raise KeyError(f"no feed contract for '{feed_id}'")


def match_file(partner: str, file_name: str) -> FeedContract | None:
    """The contract of the partner's feed whose file name pattern ``file_name`` matches, if any."""
    return next((c for c in feed_contracts() if c.partner == partner and c.matches(file_name)), None)
