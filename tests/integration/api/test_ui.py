"""The operators' page (/ui) in a real headless Chromium, against a running API on real data.

`ems-ml plot` of a stored series is here too (it reads the same data).

The API runs as a process (`ems-ml api`) on the seeded database (two metrics of asset 7 over two
days, a spike 30 minutes ago that made an incident). Chromium loads the page as a person
would and the test reads what it drew; a screenshot is kept in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from stream.ensemble import build_scorer
from stream.events import MetricPoint
from stream.features import SeriesState
from stream.incidents import IncidentTracker
from stream.pipeline import ScoredPoint
from stream.predictions import PredictionTracker
from stream.replay import score_points
from stream.sinks.postgres import ScoreWriter
from stream.worker import capacity_watch
from tests.integration.api.conftest import ASSET, NOW
from tests.integration.conftest import env_for, free_port, stored_row, wait_until

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


class Drawn(HTMLParser):
    """The elements of the rendered page, as (tag, attributes, text of a <title> child)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self._open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        node = {"tag": tag, **dict(attrs), "text": "", "parents": list(self._open)}
        self.elements.append(node)
        if tag not in ("polyline", "polygon", "line", "rect", "input", "meta", "link", "br"):
            self._open.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1]["text"] += data

    def find(self, tag, **attrs):
        return [
            e
            for e in self.elements
            if e["tag"] == tag and all(e.get(k) == v for k, v in attrs.items())
        ]


def chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is not installed: run `bash deploy/test_tools.sh`"
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=20000", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


FILLING = 8


async def _seed_filling_disk(settings) -> None:
    """Asset 8: disk_usage over two days up to 85%, rising 10 points a day (90% twelve hours
    from now), stored as the worker stores it: scores, states, and the prediction it opens."""
    rows = [
        MetricPoint(
            asset_id=FILLING,
            metric="disk_usage",
            timestamp=NOW - timedelta(minutes=10 * (287 - i)),
            value=65 + 10 * i / 144 + (i * 7919 % 11) / 50,
        )
        for i in range(288)
    ]
    states: dict[str, SeriesState] = {}
    scored = [ScoredPoint(p, v) for p, v in score_points(rows, build_scorer(settings), states)]
    (state,) = states.values()
    state.partition, state.offset = 1, 0
    watch = capacity_watch(settings)
    outlook = watch.assess(FILLING, "disk_usage", state, rows[-1].timestamp)
    async with AsyncConnectionPool(settings.database_dsn, open=False) as pool:
        await ScoreWriter(
            pool=pool,
            incidents=IncidentTracker(quiet_seconds=900),
            state_group=settings.consumer_group,
            predictions=PredictionTracker(watch),
        ).write(scored, [stored_row(settings, rows[0].series_key, state)], [outlook])


@pytest.fixture
def api_url(seeded, tmp_path):
    port = free_port()
    env = env_for(seeded, HOST="127.0.0.1", PORT=str(port), LOG_LEVEL="WARNING")
    with open(tmp_path / "api.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ems_ml.cli", "api"], env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        assert wait_until(answers, 60), (tmp_path / "api.log").read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def forecast_drawn(drawn, box, forecast):
    """The forecast's 95% and 80% bands and its line inside the chart `box`, one vertex a point."""

    def inside(tag, cls):
        return [e for e in drawn.find(tag, **{"class": cls}) if box in e["parents"]]

    (line,) = inside("polyline", "forecast")
    assert len(line["points"].split()) == len(forecast["points"]) > 0
    for band in ("forecast95", "forecast80"):
        (polygon,) = inside("polygon", band)
        assert len(polygon["points"].split()) == 2 * len(forecast["points"])


def test_the_page_draws_the_assets_series_band_anomalies_and_incidents(api_url):
    window = httpx.post(
        f"{api_url}/api/v1/maintenance",
        json={"assetId": ASSET, "metricPattern": "cpu_*", "endsAt": "2099-01-01T00:00:00Z",
              "startsAt": "2098-12-31T00:00:00Z", "reason": "firmware upgrade"},
    ).json()  # fmt: skip
    page = f"{api_url}/ui/#asset={ASSET}&hours=24"
    rendered = chromium("--dump-dom", page)
    assert rendered.returncode == 0, rendered.stderr
    drawn = Drawn()
    drawn.feed(rendered.stdout)
    assert drawn.find("body", **{"data-ready": "true"}), "the page never finished drawing"

    # what the API says is there, to compare with what was drawn
    scores = httpx.get(
        f"{api_url}/api/v1/anomaly/scores/{ASSET}", params={"hours": 24, "limit": 1000}
    ).json()["items"]
    by_metric: dict[str, list[dict]] = {}
    for s in scores:
        by_metric.setdefault(s["metric"], []).append(s)
    assert any(s["isAnomaly"] for s in by_metric["cpu_usage"])

    incidents = httpx.get(
        f"{api_url}/api/v1/assets/{ASSET}/incidents", params={"hours": 24}
    ).json()["incidents"]
    assert incidents, "the seeded spike should have made an incident"

    # the asset list: asset 7 with its points, anomalies and open incidents
    row = drawn.find("tr", **{"data-asset": str(ASSET)})
    assert row, "asset 7 is not listed"
    cells = [e["text"] for e in drawn.elements if e["tag"] == "td" and row[0] in e["parents"]]
    open_now = sum(i["status"] == "open" for i in incidents)
    assert cells[:3] == [str(ASSET), str(len(scores)), str(sum(s["isAnomaly"] for s in scores))]
    assert cells[4] == str(open_now), cells

    # one chart a metric: every point on the line, the band, one marker an anomaly
    for metric, points in by_metric.items():
        box = drawn.find("div", **{"class": "chart", "data-metric": metric})
        assert box, f"no chart for {metric}"

        def inside(tag, cls, box=box[0]):
            return [e for e in drawn.find(tag, **{"class": cls}) if box in e["parents"]]

        line = inside("polyline", "values")
        assert len(line) == 1 and len(line[0]["points"].split()) == len(points)
        assert inside("polygon", "band"), f"no expected band for {metric}"
        marks = inside("circle", "anomaly")
        assert len(marks) == sum(p["isAnomaly"] for p in points)
    cpu_box = drawn.find("div", **{"class": "chart", "data-metric": "cpu_usage"})[0]
    marks = [e for e in drawn.find("circle", **{"class": "anomaly"}) if cpu_box in e["parents"]]
    explanation = [e["text"] for e in drawn.find("title") if marks[0] in e["parents"]][0]
    assert "ANOMALY" in explanation and "driver" in explanation and "expected" in explanation
    spans = [e for e in drawn.find("rect", **{"class": "incident"}) if cpu_box in e["parents"]]
    assert len(spans) == sum("cpu_usage" in i["metrics"] for i in incidents) >= 1

    # each series' forecast, six hours (a quarter of the range) ahead, with its bands
    for metric in by_metric:
        box = drawn.find("div", **{"class": "chart", "data-metric": metric})[0]
        forecast = httpx.get(
            f"{api_url}/api/v1/forecast/{ASSET}", params={"metric": metric, "horizon": 6}
        ).json()
        forecast_drawn(drawn, box, forecast)

    # the health list, worst first, as the API assesses it
    healths = httpx.get(f"{api_url}/api/v1/assets/health").json()["assets"]
    listed = [r["data-health-asset"] for r in drawn.find("tr") if "data-health-asset" in r]
    assert listed == [str(h["assetId"]) for h in healths]
    health_row = drawn.find("tr", **{"data-health-asset": str(ASSET)})[0]
    health_cells = [
        e["text"] for e in drawn.elements if e["tag"] == "td" and health_row in e["parents"]
    ]
    mine = next(h for h in healths if h["assetId"] == ASSET)
    assert health_cells[1:3] == [str(mine["score"]), mine["status"]]
    assert mine["reasons"][0]["text"] in health_cells[3]

    # the asset's incidents, each with its priority and what moved first
    for incident in incidents:
        (row,) = drawn.find("tr", **{"data-incident": incident["id"]})
        cells = [e["text"] for e in drawn.elements if e["tag"] == "td" and row in e["parents"]]
        detail = httpx.get(f"{api_url}/api/v1/incidents/{incident['id']}").json()
        assert cells[:4] == [
            "anomaly",
            incident["status"],
            incident["severity"],
            detail["priority"],
        ]
        assert detail["hints"][0]["reason"] in cells[6]

    # the maintenance windows to come
    (row,) = drawn.find("tr", **{"data-window": window["id"]})
    window_cells = [e["text"] for e in drawn.elements if e["tag"] == "td" and row in e["parents"]]
    assert window_cells[:2] == [str(ASSET), "cpu_*"]
    assert window_cells[4:] == ["upcoming", "firmware upgrade"]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "ui-asset.png"
    shot.unlink(missing_ok=True)
    taken = chromium(f"--screenshot={shot}", "--window-size=1280,1100", page)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr


def test_the_page_shows_a_predicted_crossing_with_its_limit_and_the_asset_first_by_health(
    seeded, api_url
):
    asyncio.run(_seed_filling_disk(seeded))
    page = f"{api_url}/ui/#asset={FILLING}&hours=72"
    rendered = chromium("--dump-dom", page)
    assert rendered.returncode == 0, rendered.stderr
    drawn = Drawn()
    drawn.feed(rendered.stdout)
    assert drawn.find("body", **{"data-ready": "true"}), "the page never finished drawing"
    (box,) = drawn.find("div", **{"class": "chart", "data-metric": "disk_usage"})
    forecast = httpx.get(
        f"{api_url}/api/v1/forecast/{FILLING}", params={"metric": "disk_usage", "horizon": 18}
    ).json()
    forecast_drawn(drawn, box, forecast)
    outlook = forecast["capacity"]
    assert 6 < outlook["hoursToCrossing"] < 18  # 90% is twelve hours away
    (said,) = drawn.find("span", **{"data-outlook": "disk_usage"})
    assert f"in {outlook['hoursToCrossing']:.1f} hours" in said["text"]
    assert [e for e in drawn.find("line", **{"class": "limit"}) if box in e["parents"]]
    (crossing,) = [e for e in drawn.find("circle", **{"class": "crossing"}) if box in e["parents"]]
    # the prediction the worker's path opened puts the asset at the top of the health list
    listed = [r["data-health-asset"] for r in drawn.find("tr") if "data-health-asset" in r]
    assert listed[0] == str(FILLING)
    incidents = httpx.get(f"{api_url}/api/v1/assets/{FILLING}/incidents").json()["incidents"]
    (prediction,) = [i for i in incidents if i["kind"] == "prediction"]
    assert prediction["status"] == "open" and "disk_usage" in prediction["crossings"]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "ui-prediction.png"
    shot.unlink(missing_ok=True)
    taken = chromium(f"--screenshot={shot}", "--window-size=1280,1000", page)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr


def test_the_page_says_why_when_the_api_refuses_it(seeded, api_url):
    rendered = chromium("--dump-dom", f"{api_url}/ui/#asset=424242&hours=24")
    assert rendered.returncode == 0, rendered.stderr
    text = re.sub(r"<[^>]+>", " ", rendered.stdout)
    assert "Could not read the asset: 404" in text


def test_ems_ml_plot_draws_a_stored_series(seeded, tmp_path):
    png = tmp_path / "cpu.png"
    done = subprocess.run(
        [sys.executable, "-m", "ems_ml.cli", "plot", "--asset", str(ASSET), "--metric",
         "cpu_usage", "--hours", "24", "-o", str(png)],
        env=env_for(seeded), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "144 points, 1 anomalies" in done.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
