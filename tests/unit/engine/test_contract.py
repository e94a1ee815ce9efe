"""The engine's detectors are known by their declarations: columns, roles, scratch."""

from types import SimpleNamespace

import numpy as np
import pytest

from stream.detectors.base import ROLES
from stream.engine import combine, contract, registry, tails
from stream.engine.core import DETECTORS
from stream.ensemble import detectors


def _detector(name: str, role: str) -> type:
    return type(name.title(), (), {"name": name, "role": role})


def _module(*columns: type, words: int = 0) -> SimpleNamespace:
    return SimpleNamespace(__name__="fake", COLUMNS=columns, work_size=lambda window: words)


def test_the_layout_places_each_column_where_the_python_ensemble_has_it():
    spike, level = _detector("spike", "point"), _detector("level", "level")
    memory = _detector("memory", "long_memory")
    layout = contract.layout([_module(level, spike), _module(memory)], ["spike", "memory", "level"])
    # the first module writes level then spike: they go to columns 2 and 0
    assert layout.columns.tolist() == [2, 0, 1]
    assert layout.starts.tolist() == [0, 2, 3]
    assert [ROLES[r] for r in layout.roles] == ["point", "long_memory", "level"]
    assert layout.long_memory == 1
    assert layout.rules[ROLES.index("point")] == contract.MEDIAN
    assert layout.rules[ROLES.index("novelty")] == contract.LOWEST


def test_a_layout_without_a_long_memory_detector_says_so():
    layout = contract.layout([_module(_detector("spike", "point"))], ["spike"])
    assert layout.long_memory == -1


@pytest.mark.parametrize(
    ("modules", "names", "message"),
    [
        ([_module(_detector("odd", "gut_feeling"))], ["odd"], "no weight"),
        (
            [_module(_detector("a", "point")), _module(_detector("a", "point"))],
            ["a"],
            "two engine modules",
        ),
        ([_module(_detector("extra", "point"))], [], "does not have"),
        ([_module(_detector("a", "point"))], ["a", "b"], "no engine module scores b"),
        (
            [_module(_detector("a", "long_memory"), _detector("b", "long_memory"))],
            ["a", "b"],
            "one long-memory detector at most",
        ),
    ],
)
def test_a_declaration_that_breaks_the_contract_is_refused_at_start_up(modules, names, message):
    with pytest.raises(ImportError, match=message):
        contract.layout(modules, names)


def test_each_modules_scratch_starts_on_a_cache_line_and_has_the_room_it_asked_for():
    modules = [_module(words=3), _module(words=0), _module(words=17)]
    offsets = contract.work_offsets(modules, window_size=5)
    assert offsets.tolist() == [0, 8, 8, 32]
    sizes = np.diff(offsets)
    assert (sizes >= [3, 0, 17]).all() and (offsets % 8 == 0).all()


def test_the_engine_scores_every_detector_of_the_python_ensemble_with_its_declared_role():
    ensemble = detectors()
    assert DETECTORS == tuple(d.name for d in ensemble)
    assert [ROLES[r] for r in registry.LAYOUT.roles] == [d.role for d in ensemble]
    assert sorted(registry.LAYOUT.columns.tolist()) == list(range(len(ensemble)))


def test_the_combination_groups_the_detectors_by_role_in_the_ensembles_order():
    # each channel of evidence gathers the columns of its role, in the ensemble's order, as
    # `Scorer` gathers `by_role`; persistence and long memory gather none
    ensemble = detectors()
    for channel, name in enumerate(tails.CHANNELS):
        members = combine._MEMBERS[combine._FIRST[channel] : combine._FIRST[channel + 1]]
        want = [k for k, d in enumerate(ensemble) if d.role == name]
        assert members.tolist() == want, name
    first_met = list(dict.fromkeys(d.role for d in ensemble if d.role != "long_memory"))
    assert [tails.CHANNELS[c] for c in combine._CHANNELS] == first_met
