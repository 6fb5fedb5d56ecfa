"""What the platform team and analysts see in the Dagster UI, in a real browser (Playwright driving Debian's
chromium) against ``gmoda ui`` on simulated drops. Each page is compared with what the definitions and the
warehouse say it should show, and a screenshot of each step goes to ``screenshots/`` (git-ignored) for review.

The Dagster UI polls for ever, so it never reaches network idle: the tests wait for elements, not for the
network.
"""

from __future__ import annotations

import csv
import re
import shutil
import time
from collections import Counter

import pytest
import yaml
from dagster import AssetCheckKey, AssetKey

from gmoda_assets.ingest.sensors import drop_sensors
from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import feed_contracts
from gmoda_assets_tests.ui.conftest import REFRESH_RUN_CONFIG

SCREENSHOTS = settings.project_dir() / "screenshots"
LAYERS = ["raw", "staging", "linked", "conformed", "mart"]  # left to right in the lineage, each built from the one before
CONFORMED_ASSET = AssetKey(["conformed", "fact_births"])
RAW_CHECK = AssetCheckKey(AssetKey(["raw", "nhs", "hv_reviews"]), "identifiers_well_formed")
SENSOR_INTERVAL = drop_sensors[0].minimum_interval_seconds
RUNS_LIST_REFRESH = 15  # the UI's runs list polls for new runs this often
RUN_TIMEOUT_MS = 20 * 60 * 1000  # a refresh on a 2-core machine busy with other work


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed and could not be (.ci/run installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(browser, running_ui):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    expect.set_options(timeout=60_000)  # pages load slowly on a busy 2-core machine
    # Wide enough that the lineage of five layers fits at a zoom that still shows each group's counts.
    context = browser.new_context(base_url=running_ui.url, viewport={"width": 2200, "height": 1000})
    context.set_default_timeout(120_000)
    page = context.new_page()
    # Dagster's first-visit "Join the Dagster community" dialog covers whatever page is opened first; skip it,
    # as a new user would, whenever it shows.
    community = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
    page.add_locator_handler(community, lambda dialog: dialog.get_by_role("button", name="Skip").click())
    try:
        yield page
    finally:
        context.close()


def _screenshot(page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def _rendered(markdown: str) -> str:
    """The text of a description as the UI renders its Markdown: code spans lose their backticks."""
    return markdown.replace("`", "")


def test_lineage_shows_each_layer_as_a_group(page, defs):
    """Each group of assets is a node of the global lineage, its assets counted by status (materialised, never
    materialised, ...), and the layers run left to right in the order each is built from the one before."""
    from playwright.sync_api import expect

    assets_per_group = Counter(spec.group_name for spec in defs.resolve_all_asset_specs())
    page.goto("/asset-groups")
    nodes = page.locator("[class*=collapsedGroupNodeBox]")
    expect(nodes).to_have_count(len(assets_per_group))
    left, shown = {}, {}
    for group in assets_per_group:
        node = nodes.filter(has=page.get_by_text(group, exact=True))
        expect(node).not_to_contain_text("fetching statuses", timeout=180_000)
        shown[group] = sum(int(n) for n in re.findall(r"\d+", node.inner_text()))
        left[group] = node.bounding_box()["x"]
    _screenshot(page, "1-lineage")
    assert shown == assets_per_group
    assert [g for g in sorted(left, key=left.get) if g in LAYERS] == LAYERS, left


def test_check_page_shows_its_result_and_metadata(page, running_ui, defs):
    """The latest evaluation of a raw check, as Dagster stored it, is what its page shows: result, whether it
    blocks, its description and its figures; a failure's sample names rows and faults, never values."""
    from dagster import deserialize_value
    from playwright.sync_api import expect

    (stored,) = running_ui.dagster(
        "SELECT evaluation_event FROM asset_check_executions WHERE asset_key = %s AND check_name = %s "
        "ORDER BY id DESC LIMIT 1", (RAW_CHECK.asset_key.to_string(), RAW_CHECK.name))[0]
    evaluation = deserialize_value(stored).dagster_event.event_specific_data
    spec = defs.resolve_asset_graph().get_check_spec(RAW_CHECK)
    numbers = {k: v.value for k, v in evaluation.metadata.items() if isinstance(v.value, int)}
    assert {"expectations", "expectations_failed", "failing_rows"} <= set(numbers)

    page.goto(f"/assets/{'/'.join(RAW_CHECK.asset_key.path)}?view=checks&checkDetail={RAW_CHECK.name}")
    expect(page.get_by_text("Evaluation result").locator("..")).to_contain_text("Passed" if evaluation.passed else "Failed")
    body = page.locator("body")
    expect(body).to_contain_text(f"This is a {'blocking' if spec.blocking else 'non-blocking'} asset check.")
    expect(body).to_contain_text(spec.description)
    for key, value in numbers.items():
        expect(page.get_by_role("row", name=f"{key} {value}", exact=True)).to_be_visible()
    if numbers["failing_rows"]:
        page.get_by_text("[Show Markdown]").first.click()
        expect(page.get_by_role("dialog")).to_contain_text("_row_number=")
    _screenshot(page, "2-check")
    page.get_by_role("dialog").get_by_role("button", name="Close").click()


def _bad_delivery(running_ui) -> tuple[str, str]:
    """A partner's extract with its last column left out, delivered under a later date: (file name, column)."""
    source = sorted((running_ui.landing / "bolton").glob("BOL_EYFSP_Results_*.csv"))[-1]
    contract = next(c for c in feed_contracts() if c.feed_id == "bolton.eyfsp")
    with source.open(encoding=contract.encoding, newline="") as handle:
        rows = list(csv.reader(handle, delimiter=contract.delimiter, quotechar=contract.quote))
    missing = rows[0][-1]
    name = "BOL_EYFSP_Results_20991201.csv"
    with (running_ui.landing / "bolton" / name).open("w", encoding=contract.encoding, newline="") as handle:
        csv.writer(handle, delimiter=contract.delimiter, quotechar=contract.quote).writerows(r[:-1] for r in rows)
    return name, missing


def test_bad_file_in_the_landing_zone_appears_as_a_quarantine_run(page, running_ui):
    """Within the sensor's interval (the settle time is 0 s here, so the scan that first sees the file takes it)
    and more for the daemon and the run queue, the bad file is a failed run in the UI naming the missing column,
    and the file is in quarantine beside its reason."""
    from playwright.sync_api import expect

    file_name, column = _bad_delivery(running_ui)
    dropped = time.monotonic()
    page.goto("/runs")  # the list refreshes itself every RUNS_LIST_REFRESH seconds
    row = page.locator("[data-index]").filter(has_text=file_name)  # the runs list is a virtualised table of divs
    bound = 3 * SENSOR_INTERVAL + RUNS_LIST_REFRESH
    expect(row, f"no run of the bad file in the UI {bound} s after it landed").to_be_visible(timeout=bound * 1000)
    appeared = time.monotonic() - dropped
    expect(row).to_contain_text("Failure", timeout=RUN_TIMEOUT_MS)
    expect(row).to_contain_text("bolton_drops")  # launched by the partner's sensor
    _screenshot(page, "3-quarantine-runs")
    row.get_by_role("link").first.click()
    expect(page.get_by_text(f"missing column(s) {column}").first).to_be_visible()
    _screenshot(page, "4-quarantine-run")
    assert (running_ui.quarantine / "bolton" / file_name).is_file()
    assert (running_ui.quarantine / "bolton" / f"{file_name}.reason.json").is_file()
    assert not (running_ui.landing / "bolton" / file_name).exists()
    print(f"bad file shown as a failed run {appeared:.0f} s after it landed")


@pytest.fixture(scope="module")
def refreshed_from_the_ui(page, running_ui):
    """nightly_refresh launched from its launchpad, as the platform team would, followed to its end: the run id.
    The run config typed in, in place of the job's defaults that the editor opens with, is REFRESH_RUN_CONFIG, in
    YAML."""
    from playwright.sync_api import expect

    page.goto("/locations/gmoda_assets/jobs/nightly_refresh/playground")
    page.locator(".CodeMirror-line").last.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    for key, value in REFRESH_RUN_CONFIG.items():
        page.keyboard.press("Control+End")
        page.keyboard.press("Enter")
        page.keyboard.type(f"{key}: {yaml.safe_dump(value, default_flow_style=True).strip()}")
    expect(page.get_by_text("No errors")).to_be_visible()
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    status.wait_for(timeout=RUN_TIMEOUT_MS)
    _screenshot(page, "5-nightly-refresh")
    return run_id


def test_nightly_refresh_launched_from_the_ui_completes(page, running_ui, defs, refreshed_from_the_ui):
    from playwright.sync_api import expect

    page.goto(f"/runs/{refreshed_from_the_ui}")
    expect(page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first).to_have_text("Success")
    job_assets = defs.resolve_job_def("nightly_refresh").asset_layer.selected_asset_keys
    expect(page.get_by_text(re.compile(r"^Succeeded \(\d+\)$"))).to_have_text(f"Succeeded ({len(job_assets)})")
    (status,) = running_ui.dagster("SELECT status FROM runs WHERE run_id = %s", (refreshed_from_the_ui,))[0]
    assert status == "SUCCESS"
    materialised = {e.dagster_event.asset_key for e in running_ui.run_events(refreshed_from_the_ui, "ASSET_MATERIALIZATION")}
    assert materialised == set(job_assets)


def test_conformed_asset_page_shows_description_columns_and_row_count(page, running_ui, defs, refreshed_from_the_ui):
    from playwright.sync_api import expect

    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == CONFORMED_ASSET)
    (rows,) = running_ui.warehouse(f"SELECT count(*) FROM {'.'.join(CONFORMED_ASSET.path)}")[0]
    assert rows > 0
    page.goto(f"/assets/{'/'.join(CONFORMED_ASSET.path)}")
    expect(page.get_by_text("Row count").locator("..")).to_contain_text(f"{rows:,}")
    expect(page.locator("body")).to_contain_text(_rendered(spec.description))
    for column in spec.metadata["dagster/column_schema"].columns:
        row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=column.name, exact=True))
        expect(row.get_by_role("cell")).to_have_text([column.name, column.type, _rendered(column.description)])
    _screenshot(page, "6-conformed-asset")
