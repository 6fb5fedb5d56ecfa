"""``gmoda drops``: the drops the volume guard holds back, and a person's acceptance of one.

  gmoda drops held                                          list drops held back from staging
  gmoda drops accept <drop_id> --reason "..." [--by NAME]   accept one: the next refresh stages it
"""

from __future__ import annotations

import getpass
import sys


def add_parser(sub) -> None:
    drops = sub.add_parser("drops", help="drops held back by the volume guard: list them, or accept one")
    drops.add_argument("action", choices=["held", "accept"])
    drops.add_argument("drop_id", nargs="?", help="with accept: the drop to accept")
    drops.add_argument("--reason", help="with accept: why this delivery is right (recorded)")
    drops.add_argument("--by", default=getpass.getuser(), help="with accept: who accepts it (default: your login)")
    drops.set_defaults(func=cmd_drops)


def cmd_drops(args) -> int:
    import psycopg

    from gmoda_assets.ingest.volume import NotHeld, accept, held_drops
    from gmoda_assets.lib import database

    # A person's decision is recorded as the loader, the keeper of raw and the ledger.
    with psycopg.connect(database.as_role(database.warehouse_url(), database.LOADER), autocommit=True) as conn:
        if args.action == "held":
            held = held_drops(conn)
            print(f"{len(held)} drop(s) held back from staging")
            for drop_id, measure, value, previous, previous_value, at in held:
                print(f"  {drop_id}: {value:g} {measure.replace('_', ' ')} against {previous_value:g} in {previous} "
                      f"(held {at:%Y-%m-%d %H:%M})")
            return 0
        if not args.drop_id or not args.reason or not args.reason.strip():
            print("gmoda drops accept needs a drop id and --reason \"why the delivery is right\"", file=sys.stderr)
            return 2
        try:
            accept(conn, args.drop_id, args.by, args.reason)
        except NotHeld as exc:
            print(exc, file=sys.stderr)
            return 1
    print(f"accepted {args.drop_id} (by {args.by}): the next refresh stages it")
    return 0
