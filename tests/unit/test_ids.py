"""Run ids: Render's ``trn-`` + 20 base32hex characters, unique."""

from __future__ import annotations

import re

import pytest

from baton.core.ids import is_id, new_id

TRN = re.compile(r"trn-[0-9a-v]{20}")


def test_new_id_has_render_shape() -> None:
    assert TRN.fullmatch(new_id("trn"))


def test_new_id_uses_the_given_prefix() -> None:
    assert re.fullmatch(r"tsk-[0-9a-v]{20}", new_id("tsk"))


def test_new_id_is_unique_over_ten_thousand_ids() -> None:
    ids = [new_id("trn") for _ in range(10_000)]

    assert len(set(ids)) == len(ids)
    assert all(TRN.fullmatch(i) for i in ids)


def test_is_id_accepts_new_ids() -> None:
    assert is_id(new_id("trn"), "trn")


@pytest.mark.parametrize(
    "value",
    [
        "tsk-d0hp8fs9c44c73a6f1qg",
        "trn-d0hp8fs9c44c73a6f1q",
        "trn-d0hp8fs9c44c73a6f1qgg",
        "trn-D0HP8FS9C44C73A6F1QG",
        "trn-d0hp8fs9c44c73a6f1qz",
        "trnd0hp8fs9c44c73a6f1qg",
        "",
    ],
)
def test_is_id_rejects_other_shapes(value: str) -> None:
    assert not is_id(value, "trn")
