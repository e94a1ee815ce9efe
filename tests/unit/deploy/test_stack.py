"""`ems-ml stack` starts nothing for services that live on another machine."""

from deploy import stack
from stream.config import Settings


def test_remote_services_are_left_alone(tmp_path):
    settings = Settings(
        _env_file=None,
        kafka_bootstrap_servers="kafka.internal:9092",
        database_host="db.internal",
        ems_core_url="http://ems-core.internal:3100",
        stack_dir=str(tmp_path),
    )
    lines = stack.up(settings)
    assert lines[:3] == [
        "kafka: external at kafka.internal:9092, nothing started",
        "postgres: external at db.internal:5432, nothing started",
        "ems-core: external at http://ems-core.internal:3100, nothing started",
    ]
    assert not (tmp_path / "run").exists()
