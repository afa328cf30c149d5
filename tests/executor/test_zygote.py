"""The zygote's own parts: its command line, its reply lines, its allocator filling."""

from __future__ import annotations

import json
import sys

import pytest

from baton.executor import zygote


@pytest.mark.parametrize("argv", [["--bogus", "x"], ["--target"], ["--cwd", "a", "b"]])
def test_bad_command_line_exits_2_with_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert zygote.main(argv) == 2
    assert "usage: baton-zygote" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["trn-1:0:run", 'a"b', "é", "back\\slash", "", "tab\there"])
def test_key_of_a_request_is_its_json_text(key: str) -> None:
    engine_line = json.dumps({"type": "fork", "version": 1, "key": key, "env": {}}).encode()
    other_line = json.dumps({"version": 1, "key": key, "type": "fork"}).encode()

    assert json.loads(zygote._key_json(engine_line)) == key
    assert json.loads(zygote._key_json(other_line)) == key


def test_reply_lines_are_json() -> None:
    started = zygote._STARTED % ('"k"', 12, 1795237310.993454)
    exited = zygote._EXITED % ('"k"', 12, -9, 9, 2048, 0.001235)
    killed = zygote._EXITED % ('"k"', 12, 0, "null", 2048, 0.0)

    assert json.loads(started) == {
        "version": 1,
        "type": "started",
        "key": "k",
        "pid": 12,
        "forked_at": 1795237310.993454,
    }
    assert json.loads(exited)["signal"] == 9
    assert json.loads(exited)["cpu_s"] == 0.001235
    assert json.loads(killed)["signal"] is None
    assert started.endswith("\n") and exited.count("\n") == 1


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython's allocator")
def test_filling_free_blocks_leaves_few_in_the_larger_size_classes() -> None:
    before = zygote._free_blocks()
    assert before, "the allocator statistics could not be read"

    zygote._fill_free_blocks()

    after = zygote._free_blocks()
    # What is left is at most one fresh pool per size class (16 KiB), plus what the
    # statistics' own reading freed.
    assert all(after[size] * size <= 2 * 16384 for size in after if size >= 64)
    assert sum(after.values()) < sum(before.values())
