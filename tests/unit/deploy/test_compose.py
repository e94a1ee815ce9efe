"""docker-compose.yml: valid for Compose (checked by Debian's docker-compose, which needs no
engine), and wired as the README says: host producers reach Kafka, data survive down/up, the
demo profile brings the feed and EMS Core's stand-in, every service of ours is health-checked."""

import shutil

import pytest
import yaml

from tests.unit.deploy.tools import DEPLOY, ROOT, run_tool

OURS = ("worker", "api", "ems-core", "demo-feed")


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The compose file as Compose resolves it, with .env copied from .env.example (as the
    README's first step does)."""
    where = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yml", "Dockerfile", ".env.example"):
        shutil.copy(ROOT / name, where / name)
    shutil.copy(ROOT / ".env.example", where / ".env")
    shutil.copytree(DEPLOY, where / "deploy", ignore=shutil.ignore_patterns("__pycache__"))
    done = run_tool("docker-compose", "--profile", "demo", "config", cwd=where)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


def test_compose_file_is_valid_with_and_without_the_demo_profile(resolved):
    assert {"kafka", "postgres", "worker", "api", "prometheus", "grafana"} <= set(resolved)
    assert resolved["ems-core"]["profiles"] == ["demo"]
    assert resolved["demo-feed"]["profiles"] == ["demo"]
    assert "produce" in resolved["demo-feed"]["command"]


def test_producers_on_the_host_reach_kafka_and_containers_use_the_inside_listener(resolved):
    kafka = resolved["kafka"]
    env = kafka["environment"]
    assert "EXTERNAL://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert any(
        str(p.get("published", p) if isinstance(p, dict) else p).startswith("9092")
        for p in kafka["ports"]
    )
    for name in OURS:
        if "environment" in resolved[name]:
            assert resolved[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"


def test_kafka_and_postgres_keep_their_data_on_volumes(resolved):
    kafka = resolved["kafka"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
    mounted = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in kafka["volumes"]}
    assert log_dirs in mounted
    postgres = resolved["postgres"]
    assert any("/var/lib/postgresql/data" in str(v) for v in postgres["volumes"])


def test_env_files_localhost_addresses_do_not_reach_the_containers(resolved):
    # .env.example says EMS_CORE_URL=http://localhost:3100 for a service run on the host
    for name in ("worker", "api"):
        env = resolved[name]["environment"]
        assert env["EMS_CORE_URL"] == "http://ems-core:3100"
        assert env["DATABASE_HOST"] == "postgres"


def test_every_service_of_ours_is_health_checked_and_waits_for_what_it_needs(resolved):
    for name in ("kafka", "postgres", "worker", "api", "ems-core"):
        assert resolved[name].get("healthcheck", {}).get("test"), name
    assert resolved["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert resolved["worker"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert resolved["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert resolved["demo-feed"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_prometheus_loads_the_alert_rules_and_grafana_the_dashboard(resolved):
    prometheus = " ".join(str(v) for v in resolved["prometheus"]["volumes"])
    assert "alerts.yml" in prometheus and "prometheus.yml" in prometheus
    grafana = " ".join(str(v) for v in resolved["grafana"]["volumes"])
    assert "grafana/provisioning" in grafana and "grafana/dashboards" in grafana
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "ems-ml.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] in grafana
