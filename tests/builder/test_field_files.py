"""attachment and image."""

from __future__ import annotations

import json
from typing import Any

import pytest

from builder.errors import CoercionError
from builder.fields import Source, field_adapter, get_type

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OTHER = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def make(kind: str, **props: Any) -> Any:
    return field_adapter.validate_python({"key": "f", "type": kind, "label": "字段", **props})


def file(**over: Any) -> dict[str, Any]:
    return {"id": SHA, "name": "合同.pdf", "size": 1024, "mime": "application/pdf", **over}


def coerce(kind: str, raw: Any, source: Source = Source.JSON, **props: Any) -> Any:
    return get_type(kind).coerce(make(kind, **props), raw, source)


def test_attachment_defaults() -> None:
    assert make("attachment").max_files == 10
    assert make("image").max_files == 9


def test_attachment_coercion() -> None:
    assert coerce("attachment", [file()]) == [file()]
    assert coerce("attachment", file()) == [file()]
    assert coerce("attachment", [file(id=SHA.upper(), mime="Application/PDF", name=" a.pdf ")]) == [
        file(name="a.pdf")
    ]
    assert coerce("attachment", [file(), file()]) == [file()]
    assert coerce("attachment", [file(size=5.0)]) == [file(size=5)]
    assert coerce("attachment", json.dumps([file()]), Source.HTML) == [file()]


@pytest.mark.parametrize(
    "raw",
    [
        [file(id="abc")],
        [file(id=SHA + "0")],
        [file(name="")],
        [file(size=-1)],
        [file(size=True)],
        [file(size="1")],
        [file(mime="pdf")],
        [{**file(), "url": "http://x"}],
        [{"id": SHA}],
        ["合同.pdf"],
        "合同.pdf",
        12,
    ],
)
def test_attachment_refuses(raw: Any) -> None:
    with pytest.raises(CoercionError) as info:
        coerce("attachment", raw)
    assert info.value.code == "invalid_file"


def test_attachment_limits() -> None:
    with pytest.raises(CoercionError) as info:
        coerce("attachment", [file(), file(id=OTHER)], max_files=1)
    assert (info.value.code, info.value.params) == ("too_many_files", {"max": 1})
    with pytest.raises(CoercionError) as info:
        coerce("attachment", [file(size=3 * 1024 * 1024)], max_size_mb=2)
    assert info.value.code == "file_too_large"
    assert coerce("attachment", [file()], accept=[".pdf"]) == [file()]
    assert coerce("attachment", [file()], accept=["PDF"]) == [file()]
    assert coerce("attachment", [file()], accept=["application/*"]) == [file()]
    with pytest.raises(CoercionError) as info:
        coerce("attachment", [file()], accept=[".docx", "image/*"])
    assert (info.value.code, info.value.path) == ("file_type_not_allowed", "[0]")


def test_attachment_is_not_importable() -> None:
    with pytest.raises(CoercionError) as info:
        coerce("attachment", "合同.pdf", Source.CELL)
    assert info.value.code == "not_importable"
    assert coerce("attachment", "", Source.CELL) is None


def test_image() -> None:
    png = file(name="门店.png", mime="image/png")
    assert coerce("image", [png]) == [png]
    with pytest.raises(CoercionError) as info:
        coerce("image", [png, file()])
    assert (info.value.code, info.value.path) == ("not_an_image", "[1]")
    problems = get_type("image").check_config(make("image", accept=["application/pdf", "x y"]))
    assert [p.code for p in problems] == ["invalid_accept", "invalid_accept"]


def test_files_display_and_operators() -> None:
    atype = get_type("attachment")
    field = make("attachment")
    assert atype.display(field, [file(), file(id=OTHER, name="b.doc")]) == "合同.pdf、b.doc"
    assert atype.export(field, [file()]) == "合同.pdf"
    assert atype.operators == frozenset({"empty", "not_empty"})
