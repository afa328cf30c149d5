"""Input binding and result wrapping (spec §1.5)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from baton.sdk.wire import decode_input, encode_input, encode_output, unwrap_output


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b64([1, "a"]), ([1, "a"], {})),
        (b64({"a": 1}), ([], {"a": 1})),
        ("", ([], {})),
        (None, ([], {})),
        (b64(None), ([], {})),
        ("W10=", ([], {})),
    ],
)
def test_input_binds_arrays_positionally_and_objects_by_name(raw: Any, expected: Any) -> None:
    assert decode_input(raw) == expected


@pytest.mark.parametrize(
    "raw", ["not base64!", b64(5), b64("s"), 12, base64.b64encode(b"{").decode()]
)
def test_bad_input_is_a_value_error(raw: Any) -> None:
    with pytest.raises(ValueError):
        decode_input(raw)


@pytest.mark.parametrize(
    ("result", "output"),
    [
        (49, [49]),
        (None, [None]),
        ("s", ["s"]),
        ({"a": 1}, [{"a": 1}]),
        ((1, 2), [[1, 2]]),
        ([7], [[7]]),
        ([1, 2], [[1, 2]]),
        ([], [[]]),
    ],
)
def test_results_are_always_wrapped_in_one_element_array(result: Any, output: Any) -> None:
    encoded = encode_output(result)
    assert encoded == b64(output)
    assert json.loads(base64.b64decode(encoded)) == output


@pytest.mark.parametrize(
    ("output", "value"),
    [(b64([49]), 49), (b64([7]), 7), (b64([1, 2]), [1, 2]), (b64([]), []), ("", None)],
)
def test_child_output_unwraps_one_element_arrays(output: str, value: Any) -> None:
    assert unwrap_output(output) == value


def test_non_finite_floats_pass_through() -> None:
    assert base64.b64decode(encode_output(float("nan"))) == b"[NaN]"


def test_non_json_result_raises_jsons_type_error() -> None:
    with pytest.raises(TypeError, match=r"^Object of type set is not JSON serializable$"):
        encode_output({1})


def test_call_input_is_an_array_or_an_object_never_both() -> None:
    assert encode_input((1, 2), {}) == b64([1, 2])
    assert encode_input((), {"a": 1}) == b64({"a": 1})
    assert encode_input((), {}) == b64([])
    with pytest.raises(ValueError, match="not both"):
        encode_input((1,), {"a": 1})
