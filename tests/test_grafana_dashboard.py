"""The Grafana dashboard in docs/ works: Debian's ``prometheus`` scrapes a real hub node on loopback with the
node's token, and every panel's query parses and finds the series it needs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.conftest import serve_hub, visitor
from tests.services import free_port, spawn

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"
TOKEN = "dashboard-token-0123456789"
JOB = "bob-hub-test"
# What Grafana puts in place of its variables: a window holding several 1 s scrapes, and the job picked.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$job": JOB}
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"  # Debian's package; tests/run.sh installs it


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    assert len(queries) >= 20
    return queries


def grafana_expands(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a variable the test does not know: {expr}"
    return expr


def test_every_panel_queries_prometheus_and_names_its_series() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert [variable["name"] for variable in dashboard["templating"]["list"]] == ["job"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}" and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert re.search(r"\b(hub|process)_[a-z_]+", target["expr"]), target["expr"]


@pytest.mark.timeout(90)
async def test_every_panel_of_the_dashboard_runs_against_a_real_prometheus_scrape(settings: Settings) -> None:
    node = dataclasses.replace(settings, metrics_token=TOKEN)
    async with serve_hub(node) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as client:  # something for the AI and store panels to show
            await client.say("What are your opening hours?")
            await client.ai_reply()
        with tempfile.TemporaryDirectory(prefix="bob-hub-prometheus-") as workdir:
            config = Path(workdir) / "prometheus.yml"
            config.write_text(
                json.dumps(  # JSON is YAML
                    {
                        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                        "scrape_configs": [
                            {
                                "job_name": JOB,
                                "authorization": {"credentials": TOKEN},
                                "static_configs": [{"targets": [f"127.0.0.1:{hub.port}"]}],
                            }
                        ],
                    }
                )
            )
            port = free_port()
            log = (Path(workdir) / "prometheus.log").open("wb")
            prometheus = spawn(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir}/data",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as api:
                    await scraped_a_few_times(api, prometheus, Path(workdir) / "prometheus.log")
                    for title, expr in panel_queries():
                        answer = (await api.get("/api/v1/query", params={"query": grafana_expands(expr)})).json()
                        assert answer["status"] == "success", f"{title}: {expr}: {answer.get('error')}"
                        assert answer["data"]["result"], f"{title}: {expr} found no series"
            finally:
                prometheus.terminate()
                try:
                    prometheus.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    prometheus.kill()
                    prometheus.wait()
                log.close()


async def scraped_a_few_times(api: httpx.AsyncClient, prometheus: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until Prometheus has scraped the node successfully at least three times (rate() needs two)."""
    query = {"query": f'count_over_time(up{{job="{JOB}"}}[1m]) >= 3 and on() up{{job="{JOB}"}} == 1'}
    for _ in range(300):
        if prometheus.poll() is not None:
            raise AssertionError(f"prometheus exited with {prometheus.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = await api.get("/api/v1/query", params=query)
        except httpx.HTTPError:
            response = None  # not listening yet
        # While it starts, Prometheus answers 503 "Service Unavailable" in plain text: not ready yet.
        answer: dict[str, Any] = response.json() if response is not None and response.status_code == 200 else {}
        if answer.get("status") == "success" and answer["data"]["result"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"prometheus never scraped the node 3 times:\n{log.read_text()[-3000:]}")
