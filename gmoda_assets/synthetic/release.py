"""The synthetic children as files a partner can share without access to the warehouse: CSV and Parquet, a
data dictionary generated from the tables' comments and values, and a short report of the utility and
disclosure-risk figures. Read as ``gmoda_analyst`` (what analysts may read is what may leave), and only what
was published, so only a release that passed its blocking checks.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from gmoda_assets.lib import database
from gmoda_assets.synthetic.assets import CHILDREN, QUALITY_CHECKS
from gmoda_assets.synthetic.source import query_frame

ANALYST = "gmoda_analyst"
LEVELS_SHOWN = 30  # a column with more distinct values is described by its range, not its values


def export(url: str, out: Path) -> dict:
    """Write the children (CSV, Parquet), their data dictionary and the report into ``out`` (made if missing);
    the number of children and where they went."""
    out.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(database.as_role(url, ANALYST)) as conn:
        children = query_frame(conn, sql.SQL("SELECT {} FROM synthetic.children ORDER BY synthetic_id").format(
            sql.SQL(", ").join(map(sql.Identifier, CHILDREN.columns))))
        quality = _figures(conn)
    # Nullable integers stay integers in the files (pandas would make them floats).
    for name, column in CHILDREN.columns.items():
        if column.type in ("integer", "smallint"):
            children[name] = children[name].astype("Int64")
        elif column.type == "boolean":
            children[name] = children[name].astype("boolean")
    children.to_csv(out / "children.csv", index=False)
    children.to_parquet(out / "children.parquet", index=False)
    (out / "data_dictionary.md").write_text(data_dictionary(children), encoding="utf-8")
    (out / "report.md").write_text(report(children, quality), encoding="utf-8")
    return {"children": len(children), "folder": str(out)}


def _figures(conn: psycopg.Connection):
    quality = query_frame(conn, "SELECT * FROM synthetic.children_quality ORDER BY check_name, measure, council_code")
    return quality.astype({"real": float, "synthetic": float, "value": float, "limit_value": float, "passed": bool})


def data_dictionary(children) -> str:
    """One row per column: type, description (the column's comment, from its spec), missing share, and its
    values (up to ``LEVELS_SHOWN``) or range."""
    lines = ["# synthetic.children: data dictionary", "", CHILDREN.description, "",
             "| column | type | description | missing | values |", "|---|---|---|---|---|"]
    for name, column in CHILDREN.columns.items():
        values = children[name].dropna()
        if column.type in ("text", "boolean") and values.nunique() <= LEVELS_SHOWN:
            shown = ", ".join(sorted(map(str, values.unique())))
        elif len(values):
            shown = f"{values.min()} to {values.max()}"
        else:
            shown = ""
        missing = f"{children[name].isna().mean():.1%}" if len(children) else ""
        lines.append(f"| {name} | {column.type} | {column.description} | {missing} | {shown} |")
    return "\n".join(lines) + "\n"


def report(children, quality) -> str:
    """The utility and risk figures: each check with its result and headline figures, and the key rates of every
    council side by side."""
    lines = ["# synthetic.children: utility and disclosure risk", "",
             f"{len(children):,} synthetic children in {children.council_code.nunique()} council areas. Each check, "
             "its limit (gmoda_assets/synthetic/synthetic.yaml) and the figures it rests on; risk checks block a "
             "release, so every one below passed.", "",
             "| check | blocks release | result | figures (value against limit) |", "|---|---|---|---|"]
    for name, blocking, _ in QUALITY_CHECKS:
        rows = quality[quality.check_name == name]
        result = "passed" if len(rows) and rows.passed.all() else f"{(~rows.passed).sum()} outside the limit"
        lines.append(f"| {name} | {'yes' if blocking else 'no'} | {result} | {_headline(rows)} |")
    rates = quality[quality.check_name == "council_key_rates"]
    lines += ["", "Key rates by council (%; a real rate resting on too few children is not shown):", "",
              "| council | rate | real | synthetic |", "|---|---|---|---|"]
    for row in rates.itertuples(index=False):
        lines.append(f"| {row.council_code} | {row.measure} | {_percent(row.real)} | {_percent(row.synthetic)} |")
    return "\n".join(lines) + "\n"


def _headline(rows) -> str:
    """The check's figures: each measure's value against its limit, or for a check with a row per council,
    the worst council's."""
    if rows.empty:
        return "not measured"
    if (rows.council_code != "all").any():
        worst = rows.loc[(rows.value / rows.limit_value).idxmax()]
        return (f"{len(rows)} compared; furthest: {worst.measure} in {worst.council_code}, {worst.value:.3g} "
                f"against {worst.limit_value:.3g}")
    return "; ".join(f"{r.measure} {r.value:.3g} against {r.limit_value:.3g}" for r in rows.itertuples(index=False))


def _percent(value) -> str:
    return "" if value is None or value != value else f"{100 * value:.1f}"


def summary_lines(conn: psycopg.Connection) -> list[str]:
    """The release's checks and headline figures, for the run summary (none before the first release)."""
    quality = _figures(conn)
    if quality.empty:
        return []
    lines = ["Synthetic children: utility and disclosure risk of the release (risk checks block it):"]
    for name, blocking, _ in QUALITY_CHECKS:
        rows = quality[quality.check_name == name]
        state = "passed" if len(rows) and rows.passed.all() else "FAILED"
        lines.append(f"  {name:<28} {'risk   ' if blocking else 'utility'} {state:<7} {_headline(rows)}")
    return lines

