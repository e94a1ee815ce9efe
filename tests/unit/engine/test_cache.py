"""The compiled code's cache: named by its sources, so an edited source is compiled again."""

import stream.engine as engine


def test_an_edited_source_gets_another_cache_and_numba_cache_dir_is_honoured(tmp_path, monkeypatch):
    source = tmp_path / "component.py"
    source.write_text("THRESHOLD = 0.7\n")
    monkeypatch.setattr(engine, "SOURCES", (source,))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    before = engine.cache_dir()
    assert before.parent == tmp_path / "cache"
    assert engine.cache_dir() == before  # the same sources, the same place
    source.write_text("THRESHOLD = 0.8\n")  # a constant the compiled code would have frozen
    assert engine.cache_dir() != before


def test_every_engine_module_and_the_python_modules_it_reads_are_sources():
    names = {p.name for p in engine.SOURCES}
    assert {"core.py", "combine.py", "season.py", "convert.py", "contract.py"} <= names
    # the ensemble's order places the score columns the compiled combination reads
    assert {"ensemble.py", "base.py"} <= names
    assert {"scoring.py", "tail_calibration.py", "seasonality.py", "zscore.py"} <= names
    assert all(p.exists() for p in engine.SOURCES)
