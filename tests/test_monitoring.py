"""deploy/monitoring: Prometheus alerting rules that promtool accepts and whose alerts fire on the
figures they are meant for (promtool test rules), and a Grafana dashboard; both use only metrics the
producer exports."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.helpers import REPO

pytestmark = pytest.mark.once

MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "ntjp-rules.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"


def _exported() -> set[str]:
    names = set()
    for module in ("measure.py", "server.py"):
        source = (REPO / "src" / "ntjp_producer" / "ops" / module).read_text()
        for name in re.findall(r'"(ntjp_[a-z_]+)"', source):
            names |= {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def _used(text: str) -> set[str]:
    return set(re.findall(r"\b(ntjp_[a-z_]+)\b", text))


def test_rules_and_dashboard_use_only_exported_metrics():
    exported = _exported()
    assert {"ntjp_calls_total", "ntjp_call_duration_seconds_bucket"} <= exported
    rules = yaml.safe_load(RULES.read_text())
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert {"NtjpNodeDown", "NtjpErrorRate", "NtjpHospSlow", "NtjpFmbSlow"} <= set(alerts)
    assert _used(RULES.read_text()) <= exported, _used(RULES.read_text()) - exported
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 6 and set().union(*map(_used, exprs)) <= exported


@pytest.fixture(scope="module")
def promtool() -> str:
    found = subprocess.run([str(REPO / "scripts" / "ensure-promtool.sh")], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    return found.stdout.strip().splitlines()[-1]


def test_promtool_accepts_the_rules_and_they_fire_as_meant(promtool, tmp_path):
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # promtool's series start at time 0, a Thursday, 00:00 UTC. At 10:15 (inside service hours) 8 % Server
    # faults on 300 calls in 5 minutes pages; half of 10 calls does not (too few to say anything); at
    # 00:15 (outside service hours) nothing pages but a node that is down.
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'ntjp_calls_total{job="ntjp-hosp",service="hosp",contract="Get",outcome="ok"}',
                 "values": "0+55x640"},
                {"series": 'ntjp_calls_total{job="ntjp-hosp",service="hosp",contract="Get",outcome="server_fault"}',
                 "values": "0+5x640"},
                {"series": 'ntjp_calls_total{job="ntjp-hosp",service="hosp",contract="Few",outcome="ok"}',
                 "values": "0+1x640"},
                {"series": 'ntjp_calls_total{job="ntjp-hosp",service="hosp",contract="Few",outcome="server_fault"}',
                 "values": "0+1x640"},
                {"series": 'up{job="ntjp-hosp",instance="app-a:9101"}', "values": "1 1 1 0 0 0 0 0 0 0"},
            ],
            "alert_rule_test": [
                {"eval_time": "15m", "alertname": "NtjpErrorRate", "exp_alerts": []},
                {"eval_time": "10h15m", "alertname": "NtjpErrorRate", "exp_alerts": [
                    {"exp_labels": {"severity": "page", "job": "ntjp-hosp", "service": "hosp", "contract": "Get"},
                     "exp_annotations": {"summary": "hosp Get: 8.333% Server faults",
                                         "runbook": "docs/operations.md#events"}}]},
                {"eval_time": "8m", "alertname": "NtjpNodeDown", "exp_alerts": [
                    {"exp_labels": {"severity": "page", "job": "ntjp-hosp", "instance": "app-a:9101"},
                     "exp_annotations": {"summary": "app-a:9101 (ntjp-hosp) does not answer its operations listener",
                                         "runbook": "docs/operations.md#health-states"}}]},
            ],
        }],
    }  # fmt: skip
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(test))
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
