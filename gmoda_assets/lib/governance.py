"""Data-sharing agreements, enforced: no product asset may use a partner feed without a live agreement that
permits its purpose.

Every product asset (``synthetic``, ``model``, ``signposting``, ``mart``) is a table made by the table factory
(``gmoda_assets.lib.table_assets.table_asset``) from a spec that names its purpose: the factory declares it with
the asset tag ``gmoda/purpose`` and puts the run-time check first in the asset's body. The rules are checked twice:

* when the code location loads, ``check_code_location(defs)`` (in ``definitions.py``) walks the asset graph
  and, for each asset with a purpose, every raw feed upstream of it (``["raw", partner, feed]``; not those
  reached only through the person keys of ``conformed.dim_person``, which say who is who and carry no feed's
  content) must be covered by an agreement in ``governance/agreements.yaml`` that is live today and permits that purpose; an
  asset in a product schema, or with a purpose, that the factory did not make is refused too, since it would
  skip the run-time check;
* when a product asset runs, ``require_agreements(context)`` re-checks the same against today's date, because
  an agreement can expire while the code location stays loaded.

A product whose every row names the feed it comes from may instead be held to the agreements row by row
(``per_feed``, the asset tag ``gmoda/agreements: per_feed``): it keeps only rows of feeds with a live agreement
for its purpose (``live_feeds``), a blocking check of its suite proves it, and an agreement that ends removes
that feed's rows at the next build instead of stopping the product. Signposting is one: an agency whose agreement
ends drops out of the family view, while the others' signals stay.

``feed_is_live`` says whether a feed may still flow: ingest leaves files of a feed with no live agreement in the
landing zone, unloaded, and staging builds such a feed's table with no rows, so nothing of it reaches conformed
or any product, while its raw table keeps what it holds.

Today's date comes from the clock. ``GMODA_TODAY`` (an ISO date) moves it for tests and governance drills
("what stops on the day DSA-004 ends?"), and only together with ``GMODA_DRILL=1``: one stray variable cannot
move the platform's clock, a lone ``GMODA_TODAY`` is refused with an error, and every use is logged as a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import date
from fnmatch import fnmatchcase
from functools import cache
from typing import TYPE_CHECKING, get_args

from dagster import AssetExecutionContext, AssetKey, Definitions, Failure
from dagster_shared.check import CheckError

from gmoda_assets.lib.contracts import AGREEMENTS_FILE, Agreement, Purpose, agreements, feed_contracts, partners
from gmoda_assets.lib.documents import validated

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

PURPOSE_TAG = "gmoda/purpose"
AGREEMENTS_TAG = "gmoda/agreements"  # "per_feed": the product keeps only rows of feeds with a live agreement
PER_FEED = "per_feed"
PURPOSES = get_args(Purpose)
# Schemas whose assets are products: each must declare what it is for.
PRODUCT_SCHEMAS = ("synthetic", "model", "signposting", "mart")
# The person dimension: the linkage's identities, purpose-neutral (see _used_upstream).
IDENTITY = AssetKey(["conformed", "dim_person"])
TODAY_ENV = "GMODA_TODAY"
DRILL_ENV = "GMODA_DRILL"
# Keys of the assets the product factory made: only those carry the run-time check.
_FACTORY_PRODUCTS: set[AssetKey] = set()
_LOADED: list[BaseAssetGraph] = []  # the code location's asset graph, once check_code_location has passed
log = logging.getLogger(__name__)


class AgreementError(ValueError):
    """An asset would use a feed without a live agreement for its purpose, or the agreements are malformed."""


def current_date() -> date:
    """The date agreements are judged on: the clock, or ``GMODA_TODAY`` in a drill (``GMODA_DRILL=1``), logged.

    An explicit switch rather than "under pytest": it works the same in a test, in a subprocess a test starts
    and in a drill on a staging server, and production never sets it, so a ``GMODA_TODAY`` left in a
    production environment stops every agreement check with this error instead of moving the clock."""
    override = os.environ.get(TODAY_ENV)
    if not override:
        return date.today()
    if os.environ.get(DRILL_ENV) != "1":
        raise AgreementError(
            f"{TODAY_ENV}={override!r} is refused: the date agreements are judged on moves only in tests and "
            f"governance drills, with {DRILL_ENV}=1 set as well. Unset {TODAY_ENV}, or set {DRILL_ENV}=1 for a drill.")
    try:
        day = date.fromisoformat(override)
    except ValueError as exc:
        raise AgreementError(f"{TODAY_ENV}={override!r} is not an ISO date (YYYY-MM-DD)") from exc
    log.warning("Governance drill (%s=1): data-sharing agreements judged on %s=%s, not on today's date %s",
                DRILL_ENV, TODAY_ENV, day, date.today())
    return day


def product_tags(key: AssetKey, purpose: str, per_feed: bool = False) -> dict[str, str]:
    """The tags of a product asset with ``purpose``, for the product factory only: it records ``key`` as made
    by the factory, which ``check_agreements`` demands of every product. ``per_feed``: the product holds itself
    to the agreements row by row (see the module's docstring)."""
    _check_purpose(purpose, f"product {key.to_user_string()}")
    _FACTORY_PRODUCTS.add(key)
    return {PURPOSE_TAG: purpose, **({AGREEMENTS_TAG: PER_FEED} if per_feed else {})}


def _check_purpose(purpose: str, where: str) -> None:
    if purpose not in PURPOSES:
        raise AgreementError(f"{where}: unknown purpose '{purpose}' (known: {', '.join(PURPOSES)})")


def _covers(agreement: dict, feed_id: str) -> bool:
    return any(fnmatchcase(feed_id, pattern) for pattern in agreement["feeds"])


@cache
def validated_agreements() -> tuple[dict, ...]:
    """The agreements, checked once per process: each as its model says (every field present, purposes known,
    dates in order), each covered feed's partner a party to it, and each feed contract's agreement one of those
    covering that feed."""
    checked = []
    for agreement_id, spec in agreements().items():
        where = f"{AGREEMENTS_FILE.name}: agreement {agreement_id}"
        agreement = validated(spec, Agreement, where, AgreementError).model_dump()
        unknown = sorted(set(agreement["parties"]) - set(partners()))
        if unknown:
            raise AgreementError(f"{where}: parties: not in partners.yaml: {', '.join(unknown)}")
        for purpose, recipients in agreement["recipients"].items():
            if purpose not in agreement["purposes"]:
                raise AgreementError(f"{where}: recipients: {purpose} is not one of its purposes")
            if unknown := sorted(set(recipients) - set(partners())):
                raise AgreementError(f"{where}: recipients: {purpose}: not in partners.yaml: {', '.join(unknown)}")
        checked.append(agreement)
    for contract in feed_contracts():
        covering = [a for a in checked if _covers(a, contract.feed_id)]
        for a in covering:
            if contract.partner not in a["parties"]:
                raise AgreementError(f"{AGREEMENTS_FILE.name}: agreement {a['id']} covers feed {contract.feed_id}, "
                                     f"but {contract.partner} is not a party to it")
        if contract.agreement not in {a["id"] for a in covering}:
            raise AgreementError(
                f"{contract.path.name}: feed {contract.feed_id} names agreement {contract.agreement}, which does not "
                f"cover it (covered by: {', '.join(a['id'] for a in covering) or 'none'})"
            )
    return tuple(checked)


def agreements_covering(feed_id: str) -> list[dict]:
    """Every agreement whose ``feeds`` globs match ``feed_id`` (``<partner>.<feed>``), live or not."""
    return [a for a in validated_agreements() if _covers(a, feed_id)]


def _is_live(agreement: dict, on: date) -> bool:
    return agreement["start"] <= on <= agreement["end"]


def live_agreement_for(feed_id: str, purpose: str, today: date | None = None) -> dict | None:
    """The agreement under which ``feed_id`` may be used for ``purpose`` on ``today`` (start and end inclusive)."""
    _check_purpose(purpose, "live_agreement_for()")
    on = today or current_date()
    return next((a for a in agreements_covering(feed_id) if _is_live(a, on) and purpose in a["purposes"]), None)


def live_feeds(feed_ids: Iterable[str], purpose: str, today: date | None = None) -> dict[str, dict]:
    """Of ``feed_ids``, those that may be used for ``purpose`` on ``today``, each with its agreement."""
    on = today or current_date()
    return {f: a for f in feed_ids if (a := live_agreement_for(f, purpose, on))}


def feed_is_live(feed_id: str, today: date | None = None) -> bool:
    """Whether any agreement live on ``today`` covers ``feed_id``, whatever its purposes: may it still flow in?"""
    on = today or current_date()
    return any(_is_live(a, on) for a in agreements_covering(feed_id))


def _why_not(asset: str, feed_id: str, purpose: str, on: date) -> str | None:
    """Why ``asset`` may not use ``feed_id`` for ``purpose`` on ``on``, or None if it may."""
    if live_agreement_for(feed_id, purpose, on):
        return None
    covering = agreements_covering(feed_id)
    if not covering:
        reasons = f"no agreement in {AGREEMENTS_FILE.name} covers {feed_id}"
    else:
        parts = []
        for a in covering:
            if on < a["start"]:
                parts.append(f"{a['id']} does not start until {a['start']}")
            elif on > a["end"]:
                parts.append(f"{a['id']} expired on {a['end']}")
            else:
                parts.append(f"{a['id']} does not permit {purpose} (permits: {', '.join(a['purposes'])})")
        reasons = "; ".join(parts)
    return (f"asset {asset} (purpose {purpose}) uses feed {feed_id} without a live data-sharing agreement for "
            f"{purpose} on {on}: {reasons}")


def _feed_id(key: AssetKey) -> str | None:
    """``partner.feed`` of a raw feed asset key, None for any other asset."""
    return f"{key.path[1]}.{key.path[2]}" if len(key.path) == 3 and key.path[0] == "raw" else None


def _used_upstream(graph: BaseAssetGraph, key: AssetKey) -> set[AssetKey]:
    """The assets upstream of ``key`` whose content it uses: every ancestor, except what lies only behind the person
    keys (``IDENTITY``). Every conformed fact looks its person key up there, and the linkage behind it compares
    records of every feed to find who is who; knowing that two records are one person uses no feed's content for
    the product's purpose. A product reading the linked layer's own tables (households, say) uses their feeds."""
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys - seen - {IDENTITY}:
            seen.add(parent)
            todo.append(parent)
    return seen


def _problems(graph: BaseAssetGraph, keys: Iterable[AssetKey], on: date) -> list[str]:
    feed_ids = {c.feed_id for c in feed_contracts()}
    problems = []
    for key in keys:
        asset = key.to_user_string()
        purpose = graph.get(key).tags.get(PURPOSE_TAG)
        if purpose is None and key.path[0] not in PRODUCT_SCHEMAS:
            continue  # not a product: the agreements bind what it feeds, not the asset itself
        if key not in _FACTORY_PRODUCTS:
            problems.append(f"asset {asset} is a product not made by the product factory (table_asset, from a spec "
                            "with a purpose), so it would run without the agreement check")
            continue
        if graph.get(key).tags.get(AGREEMENTS_TAG) == PER_FEED:
            continue  # it keeps only rows of feeds with a live agreement, and its suite's blocking check proves it
        for upstream in sorted(_used_upstream(graph, key), key=lambda k: k.path):
            if upstream.path[0] != "raw":
                continue
            feed_id = _feed_id(upstream)
            if feed_id not in feed_ids:
                problems.append(f"asset {asset} (purpose {purpose}) depends on {upstream.to_user_string()}, "
                                "which is in raw but is not a feed with a contract")
            elif reason := _why_not(asset, feed_id, purpose, on):
                problems.append(reason)
    return problems


def check_agreements(defs: Definitions, today: date | None = None) -> None:
    """Raise ``AgreementError`` naming every product asset the product factory did not make, and every (asset,
    upstream raw feed) pair without a live agreement for the asset's purpose."""
    graph = defs.resolve_asset_graph()
    problems = _problems(graph, sorted(graph.get_all_asset_keys(), key=lambda k: k.path), today or current_date())
    if problems:
        raise AgreementError("Data-sharing agreements forbid this:\n- " + "\n- ".join(problems))


def check_code_location(defs: Definitions) -> None:
    """``check_agreements`` on the code location as it loads (``definitions.py``), remembering its asset graph
    for the run-time checks of runs executed in this process."""
    check_agreements(defs)
    _LOADED.clear()
    _LOADED.append(defs.resolve_asset_graph())


def _code_location_graph(context: AssetExecutionContext) -> BaseAssetGraph:
    """The asset graph a product's feeds are found in. A run launched from the code location has its
    repository; a run executed in process (``gmoda refresh``, tests) has only its job, whose graph a selection
    cuts short (an asset selection keeps the nearest upstream assets, not the feeds), so the code location
    loaded in this process stands in when it holds the assets being run."""
    try:
        return context.repository_def.asset_graph
    except CheckError:
        if _LOADED and all(_LOADED[0].has(key) for key in context.selected_asset_keys):
            return _LOADED[0]
        return context.job_def.asset_layer.asset_graph


def require_agreements(context: AssetExecutionContext, today: date | None = None) -> None:
    """Fail the run (``dagster.Failure``) if the asset being materialised may not, today, use a feed upstream of
    it for its purpose. The product factory calls it first in every product's body. Cheap: a walk of the
    code location's asset graph and of the agreements, which are read and validated once per process; no database is touched."""
    graph = _code_location_graph(context)
    keys = sorted(context.selected_asset_keys, key=lambda k: k.path)
    on = today or current_date()
    if today is None and os.environ.get(TODAY_ENV):
        context.log.warning(f"Governance drill: agreements judged on {TODAY_ENV}={on}, not on today's date")
    problems = _problems(graph, keys, on)
    if problems:
        raise Failure(description="Data-sharing agreements forbid this:\n- " + "\n- ".join(problems),
                      metadata={"agreements_file": AGREEMENTS_FILE.name}, allow_retries=False)
