"""Questions the tokenizers cannot take are an AssistantError, never a TypeError (issue 13 item 10)."""

from __future__ import annotations

import re

import pytest

from app import Assistant, AssistantError
from tests import hostile_inputs


@pytest.mark.parametrize("case", hostile_inputs.params("question"))
def test_invalid_question_text_is_a_clear_assistant_error(case, tmp_path):
    assistant = Assistant(data_dir=tmp_path / "data")
    for call in (assistant.ask, assistant.search):
        with pytest.raises(AssistantError) as err:
            call(case.build)
        assert re.search(case.expect, str(err.value)), str(err.value)
        assert case.build not in str(err.value)  # the bad text itself is not echoed


def test_a_question_that_is_not_text_is_refused(tmp_path):
    with pytest.raises(AssistantError, match="must be text, not bytes"):
        Assistant(data_dir=tmp_path / "data").ask(b"blood pressure target?")  # type: ignore[arg-type]
