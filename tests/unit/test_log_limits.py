"""An outage does not bury the log: repeated lines are limited, and the count of the rest said."""

import logging
import logging.config

from stream.config import logging_dict_config
from stream.log_limits import RepeatFilter


def test_the_services_log_config_keeps_ten_lines_of_a_flood_and_every_other_line(capsys):
    logging.config.dictConfig(logging_dict_config("INFO"))
    try:
        flood = logging.getLogger("aiokafka.conn")
        for i in range(9_194):  # the ERROR lines one 90 s broker outage once wrote
            flood.error("Unable connect to node with id %d: connection refused", i % 3)
        logging.getLogger("stream.agents").warning("kafka unavailable, retrying in 10.0s")
    finally:
        logging.config.dictConfig(logging_dict_config("WARNING"))
    lines = capsys.readouterr().err.splitlines()
    assert sum("Unable connect to node" in line for line in lines) == 10
    assert any("kafka unavailable, retrying" in line for line in lines)


def test_a_repeat_let_through_again_says_how_many_were_dropped(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("stream.log_limits.time.monotonic", lambda: clock[0])
    f = RepeatFilter(burst=1, window_seconds=60)

    def record():
        return logging.LogRecord("db", logging.WARNING, "", 0, "pool timeout", (), None)

    assert f.filter(record()) and not f.filter(record()) and not f.filter(record())
    clock[0] = 61.0
    again = record()
    assert f.filter(again)
    assert again.getMessage() == "pool timeout [2 more like this in the last 60 s]"
