"""Linkage features: what record linkage needs of names, dates of birth and addresses, and nothing more.

Staging drops names and addresses and keeps only year and month of birth. Linking the same person across
partners needs a little more, so this one table keeps derived, non-reversible forms: phonetic codes and keyed
pseudonyms of normalised names, a pseudonym of the full date of birth, the postcode sector and pseudonyms of
postcode and address. Only the linkage step reads it (analysts cannot: see sql/040_roles.sql).

Declared by a spec and built by write, check, publish (``gmoda_assets.lib.publish``); its checks are
``expectations/staging.linkage_features.yaml``.
"""

from dataclasses import replace

from psycopg import sql

from gmoda_assets.conform.staging import POSTCODE_LOOKUP_KEY, staging_table
from gmoda_assets.conform.staging_sql import build, lit, normalised_postcode, parsed_date, q, value
from gmoda_assets.lib.contracts import Column as FeedColumn, FeedContract, feed_contracts
from gmoda_assets.lib.pseudonymise import sql_pseudonym, use_key
from gmoda_assets.lib.table_assets import table_asset
from gmoda_assets.lib.tables import Column, TableSpec, Written

COLUMNS = {
    "feed_id": ("text", "Feed of the record: <partner>.<feed>."),
    "record_key": ("text", "The record's key in its staging table."),
    "nhs_number_pseudonym": ("text", "Keyed pseudonym of the NHS number, where the feed has one."),
    "given_name_soundex": ("text", "Soundex code of the given name."),
    "family_name_soundex": ("text", "Soundex code of the family name."),
    "given_initial": ("text", "First letter of the given name."),
    "given_name_pseudonym": ("text", "Keyed pseudonym of the given name (capitals, letters only)."),
    "family_name_pseudonym": ("text", "Keyed pseudonym of the family name (capitals, letters only)."),
    "birth_year": ("smallint", "Year of birth."),
    "birth_month": ("smallint", "Month of birth."),
    "date_of_birth_pseudonym": ("text", "Keyed pseudonym of the full date of birth."),
    "sex": ("text", "Sex as recorded: male, female, unknown."),
    "postcode_sector": ("text", "Postcode sector of the delivered postcode, e.g. 'M14 5'."),
    "postcode_pseudonym": ("text", "Keyed pseudonym of the full postcode."),
    "address_pseudonym": ("text", "Keyed pseudonym of the first address line (capitals, letters and digits only)."),
}


# Each feature is computed once per distinct delivered value, not once per record: a keyed pseudonym costs two
# SHA-256 hashes, and names, dates of birth, postcodes and addresses recur across millions of records (Greater
# Manchester scale: 47 s hashing per record). A lookup is a temporary table of the delivered text (``delivered``,
# as the raw table holds it) and what staging's own expressions derive from it; a record joins it on its raw
# value, and a value nothing is derived from (empty, no letters, no date, a postcode not in the lookup) has no
# row there, so the record's features are null.
_DELIVERED = FeedColumn("delivered", "delivered")  # how the expressions below name a lookup's raw value


def _letters(col) -> str:
    return f"nullif(upper(regexp_replace({value(col)}, '[^A-Za-z]', '', 'g')), '')"


def _pseudonym(prefix: str, expr: str) -> str:
    return f"CASE WHEN {expr} IS NOT NULL THEN {sql_pseudonym(f'{lit(prefix)} || {expr}')} END"


def _delivered(contracts: tuple[FeedContract, ...], *fields: str) -> str:
    """Every distinct non-null value the feeds deliver in the columns of ``fields``, as ``delivered``."""
    values = [f"SELECT r.{q(col.db_name)} AS delivered FROM raw.{q(c.raw_table)} r"
              for c in contracts for col in map(c.column, fields) if col]
    union = " UNION ALL ".join(values) or "SELECT NULL::text AS delivered"
    return f"SELECT DISTINCT delivered FROM ({union}) AS v WHERE delivered IS NOT NULL"


def _dob_pseudonym(contract: FeedContract) -> str:
    """The pseudonym of the date of birth a lookup's ``delivered`` value holds in the feed's format."""
    date = parsed_date(replace(contract.column("date_of_birth"), name=_DELIVERED.name))
    return _pseudonym("dob:", f"({date})::text")


def _lookups(contracts: tuple[FeedContract, ...]) -> dict[str, str]:
    """Lookup table -> its SELECT (the first column its key, with ``feed_id`` for dates, whose format is the
    feed's)."""
    dates = [f"SELECT {lit(c.feed_id)} AS feed_id, r.delivered, {_dob_pseudonym(c)} AS pseudonym "
             f"FROM ({_delivered((c,), 'date_of_birth')}) AS r" for c in contracts if c.column("date_of_birth")]
    address = f"nullif(upper(regexp_replace({value(_DELIVERED)}, '[^A-Za-z0-9]', '', 'g')), '')"
    return {
        # Given and family names alike: their letters, in capitals, coded and pseudonymised.
        "name_features": f"""
            SELECT delivered, left(name, 1) AS initial, ops.soundex(name) AS soundex,
                   {sql_pseudonym("'name:' || name")} AS pseudonym
            FROM (SELECT r.delivered, {_letters(_DELIVERED)} AS name
                  FROM ({_delivered(contracts, 'given_name', 'family_name')}) AS r) AS n
            WHERE name IS NOT NULL""",
        "postcode_features": f"""
            SELECT r.delivered, pc.postcode_sector AS sector, {_pseudonym('postcode:', 'pc.postcode_key')} AS pseudonym
            FROM ({_delivered(contracts, 'postcode')}) AS r
            JOIN staging.postcode_lookup pc ON pc.postcode_key = {normalised_postcode(_DELIVERED)}""",
        "address_features": f"""
            SELECT r.delivered, {_pseudonym('address:', address)} AS pseudonym
            FROM ({_delivered(contracts, 'address_line')}) AS r""",
        "dob_features": " UNION ALL ".join(dates) or "SELECT NULL::text AS feed_id, NULL::text AS delivered, "
                                                       "NULL::text AS pseudonym WHERE false",
    }


def _features(contract: FeedContract) -> sql.Composable:
    """SELECT of one feed's features, from its staged records joined back to the raw rows they came from (by the
    drop's number, which raw holds) and their raw values to the lookups."""
    col = contract.column
    given, family, dob, postcode, address = (col(f) for f in ("given_name", "family_name", "date_of_birth", "postcode", "address_line"))
    staged = ("nhs_number_pseudonym", "birth_year", "birth_month", "sex")
    present = {c.name for c in build(contract)[0]}
    exprs = {
        "feed_id": lit(contract.feed_id),
        "record_key": "s.record_key",
        **{c: f"s.{c}" if c in present else "NULL" for c in staged},
        "given_name_soundex": "gn.soundex" if given else "NULL",
        "family_name_soundex": "fn.soundex" if family else "NULL",
        "given_initial": "gn.initial" if given else "NULL",
        "given_name_pseudonym": "gn.pseudonym" if given else "NULL",
        "family_name_pseudonym": "fn.pseudonym" if family else "NULL",
        "date_of_birth_pseudonym": "db.pseudonym" if dob else "NULL",
        "postcode_sector": "pc.sector" if postcode else "NULL",
        "postcode_pseudonym": "pc.pseudonym" if postcode else "NULL",
        "address_pseudonym": "ad.pseudonym" if address else "NULL",
    }
    joins = [(lookup, alias, f"{alias}.delivered = r.{q(c.db_name)}")
             for lookup, alias, c in (("name_features", "gn", given), ("name_features", "fn", family),
                                      ("postcode_features", "pc", postcode), ("address_features", "ad", address),
                                      ("dob_features", "db", dob)) if c]
    join = "".join(f" LEFT JOIN {lookup} {alias} ON {on}" + (
        f" AND {alias}.feed_id = {lit(contract.feed_id)}" if lookup == "dob_features" else "")
        for lookup, alias, on in joins)
    return sql.SQL(
        "SELECT " + ", ".join(f"{exprs[n]}::{type_} AS {q(n)}" for n, (type_, _) in COLUMNS.items())
        + f" FROM staging.{q(staging_table(contract))} s JOIN ops.drops sd ON sd.drop_id = s._drop_id"
        + f" JOIN raw.{q(contract.raw_table)} r ON r._drop = sd.drop_number AND r._row_number = s._row_number{join}"
    )


def _write(context, conn, candidates: dict[str, sql.Identifier]) -> dict:
    """Every feed's features into the candidate, under the key (which lives only in this transaction)."""
    contracts = feed_contracts()
    use_key(conn)
    # Each feed's staged rows join their raw rows by hash; with the default 4 MB a large feed's hash table spills
    # to disk in 16 batches.
    conn.execute("SET LOCAL work_mem = '128MB'")
    for table, select in _lookups(contracts).items():
        conn.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS {}").format(sql.Identifier(table), sql.SQL(select)))
        key = "feed_id, delivered" if table == "dob_features" else "delivered"
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(sql.Identifier(table), sql.SQL(key)))
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    conn.execute(sql.SQL("INSERT INTO {} ({}) {}").format(
        candidates["linkage_features"], sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        sql.SQL(" UNION ALL ").join(_features(c) for c in contracts)))
    return {}


SPEC = TableSpec("staging", "linkage_features", (
    "Per staged record of every feed: the derived, non-reversible matching features record linkage needs — "
    "Soundex codes, initials and keyed pseudonyms of names, year and month of birth and a pseudonym of the full "
    "date, sex, postcode sector and pseudonyms of postcode and address. No name, date of birth, postcode or "
    "address is stored. Read only by the linkage step; analysts have no access."),
    {name: Column(type_, text, not_null=name in ("feed_id", "record_key")) for name, (type_, text) in COLUMNS.items()},
    Written(_write, assets=(*[("staging", c.partner, c.feed) for c in feed_contracts()],
                            *[tuple(c.asset_key) for c in feed_contracts()], tuple(POSTCODE_LOOKUP_KEY))),
    primary_key=("feed_id", "record_key"))
linkage_features = table_asset(SPEC)
