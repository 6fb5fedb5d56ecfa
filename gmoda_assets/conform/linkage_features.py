"""Linkage features: what record linkage needs of names, dates of birth and addresses, and nothing more.

Staging drops names and addresses and keeps only year and month of birth. Linking the same person across
partners needs a little more, so this one table keeps derived, non-reversible forms: phonetic codes and keyed
pseudonyms of normalised names, a pseudonym of the full date of birth, the postcode sector and pseudonyms of
postcode and address. Only the linkage step reads it (analysts cannot: see sql/040_roles.sql).

Declared by a spec and built by write, check, publish (``gmoda_assets.lib.publish``); its checks are
``expectations/staging.linkage_features.yaml``.
"""

from psycopg import sql

from gmoda_assets.conform.staging import POSTCODE_LOOKUP_KEY, staging_table
from gmoda_assets.conform.staging_sql import build, normalised_postcode, parsed_date, q, value
from gmoda_assets.lib.contracts import FeedContract, feed_contracts
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


def _letters(col) -> str:
    return f"nullif(upper(regexp_replace({value(col)}, '[^A-Za-z]', '', 'g')), '')"


def _name_features(contracts: tuple[FeedContract, ...]) -> sql.Composable:
    """Soundex code and pseudonym of every distinct name the feeds deliver. A few thousand names recur across
    millions of records, so coding each name once and joining is far cheaper than coding every record."""
    names = [f"SELECT {_letters(col)} AS name FROM raw.{q(c.raw_table)} r"
             for c in contracts for col in (c.column("given_name"), c.column("family_name")) if col]
    delivered = " UNION ALL ".join(names) or "SELECT NULL::text AS name"
    pseudonym = sql_pseudonym("'name:' || name")
    return sql.SQL(f"SELECT name, ops.soundex(name) AS soundex, {pseudonym} AS pseudonym FROM "
                   f"(SELECT DISTINCT name FROM ({delivered}) AS delivered WHERE name IS NOT NULL) AS n")


def _features(contract: FeedContract) -> sql.Composable:
    """SELECT of one feed's features, from its staged records joined back to the raw rows they came from."""
    col = contract.column
    given, family, dob, postcode, address = (col(f) for f in ("given_name", "family_name", "date_of_birth", "postcode", "address_line"))
    staged = ("nhs_number_pseudonym", "birth_year", "birth_month", "sex")
    present = {c.name for c in build(contract)[0]}

    def pseudonym(prefix: str, expr: str) -> str:
        keyed = sql_pseudonym(f"'{prefix}' || {expr}")
        return f"CASE WHEN {expr} IS NOT NULL THEN {keyed} END"

    exprs = {
        "feed_id": f"'{contract.feed_id}'",
        "record_key": "s.record_key",
        **{c: f"s.{c}" if c in present else "NULL" for c in staged},
        "given_name_soundex": "gn.soundex" if given else "NULL",
        "family_name_soundex": "fn.soundex" if family else "NULL",
        "given_initial": f"left({_letters(given)}, 1)" if given else "NULL",
        "given_name_pseudonym": "gn.pseudonym" if given else "NULL",
        "family_name_pseudonym": "fn.pseudonym" if family else "NULL",
        "date_of_birth_pseudonym": pseudonym("dob:", f"({parsed_date(dob)})::text") if dob else "NULL",
        "postcode_sector": "pc.postcode_sector" if postcode else "NULL",
        "postcode_pseudonym": pseudonym("postcode:", "pc.postcode_key") if postcode else "NULL",
        "address_pseudonym": pseudonym("address:", f"nullif(upper(regexp_replace({value(address)}, '[^A-Za-z0-9]', '', 'g')), '')")
        if address else "NULL",
    }
    join = "".join(f" LEFT JOIN name_features {alias} ON {alias}.name = {_letters(col)}"
                   for alias, col in (("gn", given), ("fn", family)) if col)
    if postcode:
        join += f" LEFT JOIN staging.postcode_lookup pc ON pc.postcode_key = {normalised_postcode(postcode)}"
    return sql.SQL(
        "SELECT " + ", ".join(f"{exprs[n]}::{type_} AS {q(n)}" for n, (type_, _) in COLUMNS.items())
        + f" FROM staging.{q(staging_table(contract))} s JOIN raw.{q(contract.raw_table)} r USING (_drop_id, _row_number){join}"
    )


def _write(context, conn, candidates: dict[str, sql.Identifier]) -> dict:
    """Every feed's features into the candidate, under the key (which lives only in this transaction)."""
    contracts = feed_contracts()
    use_key(conn)
    conn.execute(sql.SQL("CREATE TEMP TABLE name_features ON COMMIT DROP AS {}").format(_name_features(contracts)))
    conn.execute("ALTER TABLE name_features ADD PRIMARY KEY (name)")
    conn.execute("ANALYZE name_features")
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
