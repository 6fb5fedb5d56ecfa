"""``gmoda synthetic export``: the synthetic children as files to share (``release``), for the platform team and
for ``gmoda run``, which exports after every refresh."""

from __future__ import annotations

from pathlib import Path

from gmoda_assets.lib import database, settings

FILES = "children.csv, children.parquet, data_dictionary.md, report.md"


def default_folder() -> Path:
    return settings.home_dir() / "releases" / "synthetic"


def add_parser(sub) -> None:
    synthetic = sub.add_parser("synthetic", help="export the synthetic children as files to share")
    synthetic.add_argument("action", choices=["export"])
    synthetic.add_argument("--out", type=Path, help=f"folder to write {FILES} into (default: "
                                                    "$GMODA_HOME/releases/synthetic)")
    synthetic.set_defaults(func=cmd_synthetic)


def cmd_synthetic(args) -> int:
    from gmoda_assets.synthetic.release import export

    written = export(database.warehouse_url(), args.out or default_folder())
    print(f"Synthetic children: {written['children']:,} written to {written['folder']} ({FILES}), as the analyst "
          "role reads them")
    return 0
