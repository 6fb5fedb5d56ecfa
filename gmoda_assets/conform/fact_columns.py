"""Columns every conformed fact builds the same way: the staging record key, the keys looked up in the conformed
dimensions (a missing or unknown date, area, setting or partner gets the dimension's unknown member, -1, so
every row keeps its place under the foreign keys), and the pseudonyms and birth columns facts share."""

from gmoda_assets.conform.staging import staging_table
from gmoda_assets.lib.contracts import FeedContract
from gmoda_assets.lib.tables import Column, Lookup, SourceTable, Tables, Through, copied

CHILD_NHS = copied("text", "Keyed pseudonym of the child's NHS number, the same in every partner's data; null when not "
                           "delivered.", "nhs_number_pseudonym")


def staging_tables(contracts: list[FeedContract]) -> Tables:
    """The feeds' staging tables one after another, each row tagged with the partner that delivered it."""
    return Tables(tuple(SourceTable(("staging", c.partner, c.feed), ("staging", staging_table(c)),
                                    {"partner_id": c.partner}) for c in contracts))


def record_key(description: str) -> Column:
    return copied("text", description, "record_key")


def renumbered(what: str) -> Column:
    """A fact's own key: nothing may store it, since it follows record_key order at each rebuild."""
    # Record keys are hex pseudonyms, so bytewise order (COLLATE "C") is the database's order, sorted without the
    # locale's slower comparison.
    return Column("integer", f"Surrogate key of the {what}, renumbered 1..n in record_key order at each nightly "
                             "rebuild: nothing may store it.", 'row_number() OVER (ORDER BY s.record_key COLLATE "C")',
                  ("record_key",))


def date_key(description: str, source: str, *sources: str) -> Column:
    """The day ``source`` (SQL over the staging row ``s``) in dim_date."""
    return Column("integer", description, sources=sources,
                  lookup=Lookup("conformed.dim_date", "date", source, "date_key"))


def geography_key(description: str) -> Column:
    return Column("integer", description, sources=("lsoa11cd",),
                  lookup=Lookup("conformed.dim_geography", "lsoa11cd", "s.lsoa11cd", "geography_key"))


def partner_key(description: str) -> Column:
    return Column("integer", description, lookup=Lookup("conformed.dim_partner", "partner_id", "s.partner_id",
                                                        "partner_key"))


def person_key() -> Column:
    """The person the record is about, found by the linkage (linked.person_records) and looked up in
    conformed.dim_person, which depends on it, so the facts are built after the people they point at."""
    return Column("integer", "The person the record is about in dim_person, as the linkage placed the record "
                             "(linked.person_records); -1 when it has not placed it.", sources=("record_key",),
                  lookup=Lookup("conformed.dim_person", "person_key", "person_records.person_key", "person_key",
                                through=Through("linked.person_records", "person_records", "record_key",
                                                "s.record_key")))


def setting_key(description: str, source: str) -> Column:
    return Column("integer", description, sources=(source,),
                  lookup=Lookup("conformed.dim_setting", "setting_urn", f"s.{source}", "setting_key"))
