"""Every hostile input the suite tries, in one table: name -> builder -> expected outcome.

Each `Hostile` has a `kind`; one parametrized test per kind runs every case of that kind
(`cases("server")` etc.), and `tests/test_hostile_inputs.py` checks that every kind has its
runner. To add a hostile input: add a row here (a builder that makes it inside the test's
tmp_path, and the outcome a user must see); the runner for its kind picks it up.

Kinds and their runners:
- "server"   tests/app/test_openai_generator.py   a misbehaving OpenAI-compatible server
             (tests/app/openai_server.py MISBEHAVIOURS); expect: finish_reason or error regex
- "settings" tests/app/test_settings.py           a config file / M1E_* variables; expect: error regex
- "question" tests/app/test_assistant_hostile.py  a question string; expect: AssistantError regex
- "file"     tests/indexing/test_hostile_files.py a file named to `m1e index`; expect: failure
             reason regex, or None when it must index
- "upload"   tests/app/test_ui_parts.py          an upload name; must save (name under 255 bytes) and index
- "sidecar"  tests/indexing/test_hostile_files.py a metadata sidecar; expect: reason regex
- "preview"  tests/app/test_ui_parts.py          a page's MediaBox (points); expect: PreviewError regex
Other hostile inputs that need their own set-up (a racing writer, terminal escapes shown by the
CLI, markdown in UI errors, the browser's requests) are listed in `ELSEWHERE` with their test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Hostile:
    name: str
    kind: str
    build: Any  # what the kind's runner needs: a callable(tmp_path) -> input, or a plain value
    expect: Any  # the outcome: a regex for an error/reason, a finish_reason, or None for "accepted"
    issue: str = ""  # where it was found (issue 13, item n)


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.txt"
    os.mkfifo(path)
    return path


def _text(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _big_text(tmp: Path) -> Path:
    """Over the test's 1 MB text limit (the runner sets M1E_MAX_TEXT_MB=1): 2 MB of prose."""
    return _text(tmp, "huge.txt", b"Blood pressure targets are discussed here.\n" * 50_000)


def _nested_sidecar(tmp: Path) -> str:
    return '{"title": ' + "[" * 100_000 + "]" * 100_000 + "}"


def _huge_int_sidecar(tmp: Path) -> str:
    return '{"title": "A guideline", "year": ' + "9" * 50_000 + "}"


def _huge_title_sidecar(tmp: Path) -> str:
    return '{"title": "' + "A" * 900_000 + '"}'


CASES: list[Hostile] = [
    # --- a misbehaving generation server (issue 13, items 2 and 3)
    Hostile("trickle-forever", "server", "trickle", "deadline", "13.2"),
    Hostile("keep-alive-only", "server", "keep_alive_only", r"gave no answer within 2 s \(server_deadline_s\)", "13.2"),
    Hostile("ignores-max-tokens", "server", "flood", "length", "13.2"),
    Hostile("cut-without-done", "server", "cut_without_done", "incomplete", "13.3"),
    Hostile("truncated-chunk", "server", "truncated_chunk", "incomplete", "13.3"),
    # --- settings (issue 13, item 9): (file text or None, {variable: value}) -> error regex
    Hostile("m1e-is-int", "settings", ("m1e = 5\n", {}), r"m1e\.toml: 'm1e' must be a table", "13.9"),
    Hostile("m1e-is-list", "settings", ("m1e = [1, 2]\n", {}), r"m1e\.toml: 'm1e' must be a table", "13.9"),
    Hostile("m1e-is-string", "settings", ('m1e = "abc"\n', {}), r"m1e\.toml: 'm1e' must be a table", "13.9"),
    Hostile("negative-threads", "settings", (None, {"M1E_THREADS": "-5"}), r"M1E_THREADS='-5'", "13.9"),
    Hostile("negative-context", "settings", (None, {"M1E_CONTEXT_TOKENS": "-1"}), r"M1E_CONTEXT_TOKENS='-1'", "13.9"),
    Hostile("infinite-temperature", "settings", (None, {"M1E_TEMPERATURE": "inf"}), r"M1E_TEMPERATURE='inf'", "13.9"),
    Hostile("max-file-mb-not-a-number", "settings", (None, {"M1E_MAX_FILE_MB": "abc"}), r"M1E_MAX_FILE_MB='abc'", "13.9"),
    Hostile("deadline-nan", "settings", (None, {"M1E_SERVER_DEADLINE_S": "nan"}), r"M1E_SERVER_DEADLINE_S='nan'", "13.2"),
    # --- questions (issue 13, item 10)
    Hostile("invalid-utf8-from-a-shell", "question", "blood pressure \udcff\udcfe target?", r"not valid text", "13.10"),
    Hostile("lone-surrogate", "question", "blood pressure \ud800 target?", r"not valid text", "13.10"),
    Hostile("nul-byte", "question", "blood pressure\x00 target?", r"control character", "13.10"),
    # --- files named to the indexer (issue 13, items 5, 6, 8)
    Hostile("fifo", "file", _fifo, r"not a regular file \(a FIFO", "13.6"),
    Hostile("dev-zero", "file", lambda tmp: Path("/dev/zero"), r"not a regular file \(a character device", "13.6"),
    Hostile("text-over-the-text-limit", "file", _big_text, r"text file too large \(2\.1 MB; the limit for text and markdown is 1 MB, raise it with M1E_MAX_TEXT_MB\)", "13.5"),
    Hostile(
        "terminal-escapes-in-title",
        "file",
        lambda tmp: _text(tmp, "esc.txt", b"\x1b[2J\x1b[31mHypertension guideline\x07\n\nTargets below 130/80.\n"),
        None,
        "13.8",
    ),
    # --- sidecars (issue 13, item 14): sidecar text -> reason regex
    Hostile("nested-sidecar", "sidecar", _nested_sidecar, r"nests too deeply", "13.14"),
    Hostile("huge-integer-sidecar", "sidecar", _huge_int_sidecar, r"a number too long", "13.14"),
    Hostile("900kB-title-sidecar", "sidecar", _huge_title_sidecar, r"title: String should have at most 500 characters", "13.14"),
    # --- upload names (issue 13, item 7): the name -> must save and index
    Hostile("long-multibyte-name", "upload", 70 * "中文" + ".md", None, "13.7"),
    Hostile("long-emoji-name", "upload", 200 * "🩺" + ".txt", None, "13.7"),
    Hostile("name-with-escapes", "upload", "\x1b[2Jnotes\x00.md", None, "13.7"),
    # --- page preview (issue 13, item 13): MediaBox (width, height) in points -> PreviewError regex
    Hostile("giant-mediabox", "preview", (1800, 1_800_000), r"too large to preview", "13.13"),
]

# Hostile inputs whose set-up does not fit a row above, and the test that tries each.
ELSEWHERE: dict[str, str] = {
    "file swapped between versions while indexed (racing writer)": "tests/indexing/test_hostile_files.py::test_racing_writer_never_leaves_a_stale_record",
    "stored record whose content_hash does not match its document id": "tests/indexing/test_hostile_files.py::test_stale_record_is_reindexed",
    "terminal escapes shown by m1e documents/search/ask": "tests/app/test_cli_hostile.py",
    "markdown and javascript: links in a server's error text": "tests/app/test_ui_parts.py::test_error_text_is_shown_escaped",
    "one bad file in an upload batch": "tests/app/test_ui_parts.py::test_one_bad_upload_never_stops_the_batch",
    "m1e ui --host 0.0.0.0": "tests/app/test_cli_hostile.py::test_ui_on_all_interfaces_warns_no_authentication",
    "unknown M1E_FOO variable": "tests/app/test_settings.py::test_unknown_variable_warns_naming_it",
    "any request from the page leaving 127.0.0.1": "tests/e2e/test_offline_page.py::test_page_load_and_ask_stay_on_127_0_0_1",
    "a stream cut before [DONE], through the Assistant": "tests/app/test_openai_generator.py::test_a_cut_stream_is_a_warning_on_the_answer",
    "a poster-sized (A0) page to preview": "tests/app/test_ui_parts.py::test_preview_of_a_large_but_real_page_is_scaled_to_the_pixel_cap",
    "a question that is bytes, not text": "tests/app/test_assistant_hostile.py::test_a_question_that_is_not_text_is_refused",
    "a checkpoint with only pickle weights that run code when loaded": "tests/model/test_no_pickle.py::test_pickle_only_checkpoint_is_refused_unread",
    "M1E_MAX_FILE_MB=abc where the reader takes it": "tests/app/test_settings.py::test_max_file_mb_is_checked_where_the_reader_takes_it",
}


def cases(kind: str) -> list[Hostile]:
    return [c for c in CASES if c.kind == kind]


def params(kind: str) -> list[Any]:
    """pytest parameters for one kind, each with the case's name as its id."""
    import pytest

    return [pytest.param(c, id=c.name) for c in cases(kind)]


RUNNERS: dict[str, str] = {
    "server": "tests/app/test_openai_generator.py",
    "settings": "tests/app/test_settings.py",
    "question": "tests/app/test_assistant_hostile.py",
    "file": "tests/indexing/test_hostile_files.py",
    "sidecar": "tests/indexing/test_hostile_files.py",
    "upload": "tests/app/test_ui_parts.py",
    "preview": "tests/app/test_ui_parts.py",
}
