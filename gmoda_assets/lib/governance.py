"""Data-sharing agreements, enforced: no product asset may use a partner feed without a live agreement that
permits its purpose.

Every product asset (``synthetic``, ``model``, ``signposting``, ``mart``) declares its purpose with the asset
tag ``gmoda/purpose`` (``tags=purpose_tags("school_readiness")``). The rules are checked twice:

* when definitions are built or tested, ``check_agreements(defs)`` walks the asset graph and, for each asset
  with a purpose, every raw feed upstream of it (``["raw", partner, feed]``) must be covered by an agreement in
  ``governance/agreements.yaml`` that is live today and permits that purpose;
* when a product asset runs, ``require_agreements(context)`` at the top of its body re-checks the same against
  today's date, because an agreement can expire while the code location stays loaded.

Ingest asks ``feed_is_live`` whether a feed may still flow in: files of a feed with no live agreement are to stay
in the landing zone, unloaded, while its raw table keeps what it holds.

Today's date comes from the clock, or from ``GMODA_TODAY`` (an ISO date) when set: that override exists for
tests and governance drills ("what stops on the day DSA-004 ends?"), never for production.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from fnmatch import fnmatchcase
from functools import cache
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, AssetKey, Definitions, Failure

from gmoda_assets.lib.contracts import AGREEMENTS_FILE, agreements, feed_contracts, partners

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

PURPOSE_TAG = "gmoda/purpose"
PURPOSES = ("school_readiness", "signposting", "synthetic_data", "statistics")
# Schemas whose assets are products: each must declare what it is for.
PRODUCT_SCHEMAS = ("synthetic", "model", "signposting", "mart")
TODAY_ENV = "GMODA_TODAY"
_REQUIRED_KEYS = ("id", "title", "parties", "feeds", "purposes", "lawful_basis", "start", "end")


class AgreementError(ValueError):
    """An asset would use a feed without a live agreement for its purpose, or the agreements are malformed."""


def current_date() -> date:
    """The date agreements are judged on: ``GMODA_TODAY`` if set (tests and drills only), else the clock."""
    override = os.environ.get(TODAY_ENV)
    if not override:
        return date.today()
    try:
        return date.fromisoformat(override)
    except ValueError as exc:
        raise AgreementError(f"{TODAY_ENV}={override!r} is not an ISO date (YYYY-MM-DD)") from exc


def purpose_tags(purpose: str) -> dict[str, str]:
    """Asset tags declaring ``purpose``: ``@asset(tags=purpose_tags("statistics"))``."""
    _check_purpose(purpose, "purpose_tags()")
    return {PURPOSE_TAG: purpose}


def _check_purpose(purpose: str, where: str) -> None:
    if purpose not in PURPOSES:
        raise AgreementError(f"{where}: unknown purpose '{purpose}' (known: {', '.join(PURPOSES)})")


def _as_date(value: date | str, agreement_id: str, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise AgreementError(f"{AGREEMENTS_FILE.name}: agreement {agreement_id} has {key} {value!r}, not a date") from exc


def _covers(agreement: dict, feed_id: str) -> bool:
    return any(fnmatchcase(feed_id, pattern) for pattern in agreement["feeds"])


@cache
def validated_agreements() -> tuple[dict, ...]:
    """The agreements, checked once per process: every field present, purposes known, dates in order, each
    covered feed's partner a party to it, and each feed contract's agreement one of those covering that feed."""
    checked = []
    for agreement_id, spec in agreements().items():
        where = f"{AGREEMENTS_FILE.name}: agreement {agreement_id}"
        missing = [k for k in _REQUIRED_KEYS if k not in spec]
        if missing:
            raise AgreementError(f"{where} lacks {', '.join(missing)}")
        for purpose in spec["purposes"]:
            _check_purpose(purpose, where)
        unknown = sorted(set(spec["parties"]) - set(partners()))
        if unknown:
            raise AgreementError(f"{where} names parties not in partners.yaml: {', '.join(unknown)}")
        start, end = _as_date(spec["start"], agreement_id, "start"), _as_date(spec["end"], agreement_id, "end")
        if start > end:
            raise AgreementError(f"{where} ends ({end}) before it starts ({start})")
        checked.append({**spec, "start": start, "end": end})
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


def _problems(graph: BaseAssetGraph, keys: Iterable[AssetKey], on: date, purpose_required: bool = False) -> list[str]:
    feed_ids = {c.feed_id for c in feed_contracts()}
    problems = []
    for key in keys:
        asset = key.to_user_string()
        purpose = graph.get(key).tags.get(PURPOSE_TAG)
        if purpose is None:
            if purpose_required or key.path[0] in PRODUCT_SCHEMAS:
                problems.append(f"asset {asset} declares no purpose (tag {PURPOSE_TAG})")
            continue
        if purpose not in PURPOSES:
            problems.append(f"asset {asset} declares unknown purpose '{purpose}' (known: {', '.join(PURPOSES)})")
            continue
        for upstream in sorted(graph.get_ancestor_asset_keys(key), key=lambda k: k.path):
            if upstream.path[0] != "raw":
                continue
            feed_id = _feed_id(upstream)
            if feed_id not in feed_ids:
                problems.append(f"asset {asset} (purpose {purpose}) depends on {upstream.to_user_string()}, "
                                "which is in raw but is not a feed with a contract")
            elif reason := _why_not(asset, feed_id, purpose, on):
                problems.append(reason)
    return problems


def check_agreements(assets_or_defs: Definitions | Iterable, today: date | None = None) -> None:
    """Raise ``AgreementError`` naming every asset that declares an unknown purpose, every product asset that
    declares none, and every (asset, upstream raw feed) pair without a live agreement for the asset's purpose.

    ``assets_or_defs`` is a ``Definitions`` or the assets (and specs) to build one from."""
    defs = assets_or_defs if isinstance(assets_or_defs, Definitions) else Definitions(assets=list(assets_or_defs))
    graph = defs.resolve_asset_graph()
    problems = _problems(graph, sorted(graph.get_all_asset_keys(), key=lambda k: k.path), today or current_date())
    if problems:
        raise AgreementError("Data-sharing agreements forbid this:\n- " + "\n- ".join(problems))


def require_agreements(context: AssetExecutionContext, today: date | None = None) -> None:
    """Fail the run (``dagster.Failure``) if the asset being materialised may not, today, use a feed upstream of
    it for its purpose. Call it first in a product asset's body. Cheap: a walk of the job's asset graph and of
    the agreements, which are read and validated once per process; no database is touched."""
    # The job's asset graph holds every asset of the code location, not only those selected for this run.
    graph = context.job_def.asset_layer.asset_graph
    keys = sorted(context.selected_asset_keys, key=lambda k: k.path)
    problems = _problems(graph, keys, today or current_date(), purpose_required=True)
    if problems:
        raise Failure(description="Data-sharing agreements forbid this:\n- " + "\n- ".join(problems),
                      metadata={"agreements_file": AGREEMENTS_FILE.name}, allow_retries=False)
