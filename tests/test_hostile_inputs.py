"""The hostile-input table stays whole: every kind has a runner that uses it, every row is unique,
and every input tried elsewhere names a test that exists."""

from __future__ import annotations

from pathlib import Path

from tests import hostile_inputs

ROOT = Path(__file__).resolve().parents[1]


def test_every_kind_has_a_runner_that_takes_its_rows():
    kinds = {c.kind for c in hostile_inputs.CASES}
    assert kinds == set(hostile_inputs.RUNNERS)
    for kind, runner in hostile_inputs.RUNNERS.items():
        text = (ROOT / runner).read_text(encoding="utf-8")
        assert f'hostile_inputs.params("{kind}")' in text, f"{runner} does not run the {kind!r} rows"


def test_rows_are_unique_and_say_where_they_came_from():
    names = [c.name for c in hostile_inputs.CASES]
    assert len(names) == len(set(names))
    assert all(c.issue for c in hostile_inputs.CASES)


def test_inputs_tried_elsewhere_name_real_tests():
    for what, where in hostile_inputs.ELSEWHERE.items():
        path, _, name = where.partition("::")
        text = (ROOT / path).read_text(encoding="utf-8")
        assert not name or f"def {name}(" in text, f"{what}: {where} does not exist"
