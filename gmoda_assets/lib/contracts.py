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
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from gmoda_assets.lib.documents import Strict, read

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
AGREEMENTS_FILE = Path(__file__).resolve().parent.parent / "governance" / "agreements.yaml"

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


def _encoding(name: str) -> str:
    """A Python codec name COPY can read (``PG_ENCODINGS``), normalised (``UTF8`` -> ``utf-8``)."""
    try:
        found = codecs.lookup(name).name
    except LookupError:
        found = name
    if found not in PG_ENCODINGS:
        raise ValueError(f"encoding '{name}' is not supported (use one of {sorted(PG_ENCODINGS)})")
    return found


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


# The files' models: what each YAML file may hold (gmoda_assets.lib.documents).
ColumnType = Literal["text", "integer", "decimal", "date", "datetime", "code"]
Delivery = Literal["snapshot", "increment"]
Cadence = Literal["weekly", "monthly", "quarterly"]  # the keys of CADENCE_DAYS
Purpose = Literal["school_readiness", "signposting", "synthetic_data", "statistics"]  # what an agreement permits
Delimiter = Annotated[str, StringConstraints(min_length=1, max_length=1)]
Encoding = Annotated[str, AfterValidator(_encoding)]


class Volume(Strict):
    max_shrink: Annotated[float, Field(strict=True, ge=0, le=1)] | None = None  # null: unguarded


class Format(Strict):
    """How a system writes its files; a feed may override any of it."""

    delimiter: Delimiter
    encoding: Encoding
    quote: str = '"'


class FormatOverride(Strict):
    delimiter: Delimiter | None = None
    encoding: Encoding | None = None
    quote: str | None = None


class ColumnSpec(Strict):
    name: str
    source: str
    type: ColumnType | None = None  # by default code when it has values, text otherwise
    format: str | None = None
    values: dict[str, str] | None = None
    required: bool = False

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, values):  # YAML reads a code such as 1 or 2.5 as a number
        return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else values

    @model_validator(mode="after")
    def _dated_columns_have_a_format(self):
        if self.column_type in {"date", "datetime"} and not self.format:
            raise ValueError(f"{self.column_type} column '{self.name}' needs a strftime 'format'")
        return self

    @property
    def column_type(self) -> str:
        return self.type or ("code" if self.values is not None else "text")


class SystemFile(Strict):
    """``contracts/systems/<system>.yaml``: an extract system's columns and format."""

    kind: str
    delivery: Delivery
    format: Format
    columns: list[ColumnSpec] = Field(min_length=1)
    cadence: Cadence | None = None
    volume: Volume = Volume()


class FeedFile(Strict):
    """``contracts/feeds/<partner>.<feed>.yaml``: one partner's feed, from one system."""

    partner: str
    feed: str
    system: str
    agreement: str
    file_name: str
    delivery: Delivery | None = None
    format: FormatOverride = FormatOverride()
    cadence: Cadence | None = None
    volume: Volume = Volume()


class KindField(Strict):
    type: ColumnType
    identifier: str | None = None  # the kind of direct identifier it is
    description: str | None = None
    values: list[str] | None = None  # a code's canonical values


class Kind(Strict):
    grain: str
    key: list[str] = Field(min_length=1)
    fields: dict[str, KindField]


class KindsFile(Strict):
    kinds: dict[str, Kind]


class Partner(Strict):
    id: str
    name: str
    kind: Literal["council", "health", "police", "housing"]
    code: str | None = None  # ONS code of a council


class PartnersFile(Strict):
    partners: list[Partner]


class Agreement(Strict):
    id: str
    title: str
    parties: list[str]
    feeds: list[str] = Field(min_length=1)  # <partner>.<feed> globs
    purposes: list[Purpose] = Field(min_length=1)
    # For a purpose whose product partners' practitioners see (signposting): the partners whose practitioners
    # may see what these feeds contribute to it. None listed: no practitioner sees it.
    recipients: dict[Purpose, list[str]] = Field(default_factory=dict)
    lawful_basis: str
    start: date
    end: date

    @model_validator(mode="after")
    def _in_order(self):
        if self.start > self.end:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        return self


class AgreementsFile(Strict):
    agreements: list[Agreement]


@cache
def kinds() -> dict[str, dict]:
    """Canonical schema of each kind of feed: {kind: {"grain": ..., "key": [...], "fields": {name: spec}}}."""
    found = read(CONTRACTS_DIR / "kinds.yaml", KindsFile, ContractError)
    return {name: kind.model_dump(exclude_unset=True) for name, kind in found.kinds.items()}


@cache
def partners() -> dict[str, dict]:
    """Partners by id, in the order of ``partners.yaml``."""
    return {p.id: p.model_dump(exclude_unset=True)
            for p in read(CONTRACTS_DIR / "partners.yaml", PartnersFile, ContractError).partners}


@cache
def agreements() -> dict[str, dict]:
    """Data-sharing agreements by id (``gmoda_assets.lib.governance`` holds them to the partners and feeds)."""
    return {a.id: a.model_dump() for a in read(AGREEMENTS_FILE, AgreementsFile, ContractError).agreements}


def load_contract(path: Path) -> FeedContract:
    """Read one feed contract, merged with its system, and check it against the kinds, partners, agreements and
    its file name."""
    feed = read(path, FeedFile, ContractError)
    system_path = CONTRACTS_DIR / "systems" / f"{feed.system}.yaml"
    if not system_path.exists():
        raise ContractError(f"{path}: system '{feed.system}' has no file {system_path}")
    system = read(system_path, SystemFile, ContractError)
    if system.kind not in kinds():
        raise ContractError(f"{system_path}: unknown kind '{system.kind}' (known: {sorted(kinds())})")
    kind = kinds()[system.kind]
    if path.name != f"{feed.partner}.{feed.feed}.yaml":
        raise ContractError(f"{path}: file must be named {feed.partner}.{feed.feed}.yaml")
    if feed.partner not in partners():
        raise ContractError(f"{path}: partner '{feed.partner}' is not in partners.yaml")
    if feed.agreement not in agreements():
        raise ContractError(f"{path}: agreement '{feed.agreement}' is not in governance/agreements.yaml")
    fmt = system.format.model_copy(update=feed.format.model_dump(exclude_unset=True))
    delivery = feed.delivery or system.delivery
    volume = {**system.volume.model_dump(exclude_unset=True), **feed.volume.model_dump(exclude_unset=True)}
    max_shrink = volume.get("max_shrink", DEFAULT_MAX_SHRINK[delivery])

    columns = []
    for number, spec in enumerate(system.columns):
        where = f"{system_path}: columns.{number}"
        field_spec = kind["fields"].get(spec.source)
        if field_spec is None:
            raise ContractError(f"{where}.source: column '{spec.name}' maps to '{spec.source}', not a field of kind "
                                f"'{system.kind}'")
        allowed = field_spec.get("values")
        if spec.values and allowed and not set(spec.values.values()) <= set(allowed):
            raise ContractError(f"{where}.values: column '{spec.name}' maps codes to "
                                f"{sorted(set(spec.values.values()) - set(allowed))}, not values of {system.kind}.{spec.source}")
        columns.append(Column(name=spec.name, source=spec.source, type=spec.column_type, format=spec.format,
                              values=spec.values, required=spec.required, identifier=field_spec.get("identifier")))
    missing_key = [f for f in kind["key"] if f not in {c.source for c in columns}]
    if missing_key:
        raise ContractError(f"{system_path}: no column delivers record key field(s) {missing_key} of kind '{system.kind}'")
    db_names = [c.db_name for c in columns]
    if len(set(db_names)) != len(db_names):
        raise ContractError(f"{system_path}: two columns map to the same raw column name: {db_names}")
    return FeedContract(
        partner=feed.partner,
        feed=feed.feed,
        kind=system.kind,
        system=feed.system,
        agreement=feed.agreement,
        delivery=delivery,
        file_name=feed.file_name,
        delimiter=fmt.delimiter,
        encoding=fmt.encoding,
        quote=fmt.quote,
        columns=tuple(columns),
        path=path,
        cadence=feed.cadence or system.cadence or "monthly",
        max_shrink=max_shrink,
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
