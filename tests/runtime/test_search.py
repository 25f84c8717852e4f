"""Search: Chinese substrings of every length, several words, and the stored search text."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from builder.form import load_form, publish
from runtime.compiled import compile_form
from runtime.errors import InvalidQueryError
from runtime.search_text import MAX_SEARCH_TEXT, search_text, search_words
from runtime.store import search as search_module
from runtime.store.bigrams import bigram_token, bigram_tokens
from runtime.store.query import query_records
from runtime.store.search import TRIGRAM_INDEX
from runtime.store.search_index import index_pending
from runtime.store.tables import records
from tests.runtime.test_query_support import (
    DEAL,
    NOW,
    World,
    build_world,
    insert_record,
    update_record,
)


@pytest.fixture
def world(conn: sa.Connection) -> World:
    return build_world(conn)


def found(w: World, conn: sa.Connection, search: str, **kw: Any) -> list[str]:
    page = query_records(conn, w.cf, search=search, limit=100, actor=w.actor(), **kw)
    return sorted(w.labels(page))


def found_before_and_after_indexing(w: World, conn: sa.Connection, search: str) -> list[str]:
    """What ``search`` finds while the changes are queued, checked to be what it finds once
    the queue is applied to the index."""
    before = found(w, conn, search)
    index_pending(conn)
    assert found(w, conn, search) == before, "applying the search queue changed the answer"
    return before


SEARCHES = [
    ("华为技术", ["r1"]),  # 4 characters: the trigram index
    ("华为技", ["r1"]),  # exactly 3
    ("华为", ["r1", "r5"]),  # 2 characters: the short path
    ("浦东", ["r1"]),  # inside rich text, without its tags
    ("为", ["r1", "r5"]),  # 1 character
    ("米", ["r2"]),
    ("雷军", ["r2"]),  # a sub-form column
    ("13800000000", ["r2"]),
    ("浦东新区", ["r1"]),  # an address part
    ("上海市浦东", ["r1"]),  # across address parts
    ("官网", ["r1"]),  # a select option's label
    ("web", ["r1"]),  # and its value
    ("ACME", ["r3"]),  # case-insensitive
    ("acme_100%", ["r3"]),  # LIKE wildcards are literal
    ("100%", ["r3"]),
    ("e_1", ["r3"]),
    ("%", ["r3"]),
    ("华为 终端", ["r5"]),  # every word must match: 2 + 2 characters
    ("华为 技术", ["r1"]),
    ("华为技术 浦东", ["r1"]),  # long + short
    ("华为技术 小米", []),
    ("华为技术 华为终端", []),  # two long words, both needed
    ("  华为   ", ["r1", "r5"]),  # blanks around and between
    ("", ["r1", "r2", "r3", "r4", "r5"]),
    ("   ", ["r1", "r2", "r3", "r4", "r5"]),
    ("已删除", []),  # deleted records are never found
    ("其他表单", []),  # nor records of another form
    ("技术\n华为", ["r1"]),
    ("技术浦", []),  # no match across two values
]


@pytest.mark.parametrize(("search", "expected"), SEARCHES)
def test_search(world: World, conn: sa.Connection, search: str, expected: list[str]) -> None:
    assert found_before_and_after_indexing(world, conn, search) == expected


@pytest.mark.parametrize(("search", "expected"), SEARCHES)
def test_broad_words_are_matched_row_by_row_with_the_same_answers(
    world: World,
    conn: sa.Connection,
    monkeypatch: pytest.MonkeyPatch,
    search: str,
    expected: list[str],
) -> None:
    # Every long word counts as broad: the index is only asked how broad it is.
    monkeypatch.setattr(search_module, "BROAD_HITS", 0)
    assert found_before_and_after_indexing(world, conn, search) == expected


def test_search_combines_with_filters_sort_and_count(world: World, conn: sa.Connection) -> None:
    w = world
    page = query_records(
        conn,
        w.cf,
        search="华为",
        filter={"field": "grade", "op": "eq", "value": "C"},
        actor=w.actor(),
    )
    assert w.labels(page) == ["r5"] and page.count == 1
    page = query_records(
        conn, w.cf, search="华为", sort=[{"field": "name", "dir": "desc"}], actor=w.actor()
    )
    assert w.labels(page) == ["r5", "r1"] and page.count == 2


def test_updated_and_deleted_records_leave_the_search(world: World, conn: sa.Connection) -> None:
    w = world
    f = found_before_and_after_indexing
    assert f(w, conn, "小米科技") == ["r2"]
    update_record(conn, w.cf, w.ids["r2"], {"name": "红米手机"})
    assert found(w, conn, "小米科技") == []  # queued, not yet in the index
    assert found(w, conn, "红米手机") == ["r2"]
    assert f(w, conn, "小米科技") == []
    assert f(w, conn, "小米") == []
    assert f(w, conn, "红米手机") == ["r2"]
    assert f(w, conn, "红米") == ["r2"]
    conn.execute(sa.update(records).where(records.c.id == w.ids["r1"]).values(deleted_at=NOW))
    assert f(w, conn, "华为技术") == []
    assert f(w, conn, "华为") == ["r5"]
    # Restored: found again by the text it kept.
    conn.execute(sa.update(records).where(records.c.id == w.ids["r1"]).values(deleted_at=None))
    assert f(w, conn, "华为技术") == ["r1"]
    conn.execute(sa.delete(records).where(records.c.id == w.ids["r5"]))
    assert found(w, conn, "华为终端") == []
    assert f(w, conn, "华为终端") == []
    assert f(w, conn, "华为") == ["r1"]
    # A new record is found at once, and after the index has it.
    new = insert_record(conn, w.cf, {"name": "华为云"})
    w.ids["new"] = new
    assert found(w, conn, "华为云") == ["new"]
    assert f(w, conn, "华为云") == ["new"]
    assert f(w, conn, "华为") == ["new", "r1"]
    # Changed twice, and changed back, before the queue is applied.
    update_record(conn, w.cf, new, {"name": "阿里云"})
    update_record(conn, w.cf, new, {"name": "腾讯云"})
    assert found(w, conn, "阿里云") == [] and found(w, conn, "华为云") == []
    assert f(w, conn, "腾讯云") == ["new"]
    update_record(conn, w.cf, new, {"name": "百度云"})
    update_record(conn, w.cf, new, {"name": "腾讯云"})
    assert f(w, conn, "腾讯云") == ["new"]
    assert f(w, conn, "百度云") == []


@pytest.mark.parametrize(
    "attack",
    [
        '"华为" OR "小米"',
        "华为*",
        "NEAR(华为 小米)",
        "name:华为",
        '"""',
        "'; DELETE FROM records; --",
        "^华为",
        "(",
        "AND",
        "华为 OR 小米",
    ],
)
def test_search_syntax_is_just_text(world: World, conn: sa.Connection, attack: str) -> None:
    assert found(world, conn, attack) == []
    assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one() >= 7


def test_bad_searches_are_refused(world: World, conn: sa.Connection) -> None:
    for bad in ("x" * 201, " ".join("abcdefghijk"), "a\x00b", 12):
        with pytest.raises(InvalidQueryError) as caught:
            query_records(conn, world.cf, search=bad, actor=world.actor())  # type: ignore[arg-type]
        assert [(e.field, e.code) for e in caught.value.errors] == [("search", "invalid_search")]


def test_search_text_is_lower_cased_bounded_and_typed() -> None:
    cf = compile_form(1, publish(load_form(DEAL), 1))
    text = search_text(
        cf,
        {
            "name": "Huawei 华为",
            "grade": "A",
            "source": "event",
            "tags": ["重点", 3],
            "budget": 100,
            "due": "2026-11-22",
            "notes": "<p>Hello <b>World</b></p>",
            "addr": {"province": "广东省", "city": "深圳市", "district": "南山区"},
            "contacts": [{"cname": "张三", "mobile": "138"}, "junk"],
            "files": [{"name": "secret.pdf"}],
        },
    )
    assert text.split("\n") == [
        "huawei 华为",
        "a",
        "event",
        "展会",
        "重点",
        "hello world",
        "广东省深圳市南山区",
        "张三",
        "138",
    ]
    assert search_text(cf, {}) == ""
    assert search_text(cf, {"name": 12, "notes": None, "addr": "x", "contacts": {"a": 1}}) == ""
    assert len(search_text(cf, {"name": "长" * 30_000})) == MAX_SEARCH_TEXT
    assert search_words("  Foo  华为 foo ") == ["foo", "华为"]


def test_words_of_two_or_more_characters_go_through_the_indexes(
    world: World, conn: sa.Connection
) -> None:
    w = world
    index_pending(conn)  # the world's records into the index, out of the queue
    one_character = found(w, conn, "华")
    assert set(one_character) >= {"r1", "r5"}
    # Empty the indexes behind the engine's back: long and two-character words now find
    # nothing, one-character words (which never use them) still work — so the paths are
    # really separate.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO records_fts(records_fts) VALUES ('delete-all')")
        conn.exec_driver_sql("INSERT INTO records_bigrams(records_bigrams) VALUES ('delete-all')")
    else:
        conn.exec_driver_sql("DELETE FROM records_search")
    assert found(w, conn, "华为技术") == []
    assert found(w, conn, "华为") == []
    assert found(w, conn, "华") == one_character
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO records_fts(records_fts) VALUES ('rebuild')")
        conn.exec_driver_sql(
            "INSERT INTO records_bigrams(rowid, grams) SELECT id, stageform_bigrams(search_text)"
            " FROM records WHERE search_text IS NOT NULL"
        )
    else:
        conn.exec_driver_sql(
            "INSERT INTO records_search SELECT id, search_text FROM records"
            " WHERE search_text IS NOT NULL"
        )
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for where, params, index in (
            ("search_text LIKE %(p)s ESCAPE '\\'", {"p": "%华为技术%"}, TRIGRAM_INDEX),
            (
                "stageform_bigrams(search_text) @> CAST(%(p)s AS text[])",
                {"p": ["华为"]},
                "ix_records_search_bigrams",
            ),
        ):
            plan = "\n".join(
                r[0]
                for r in conn.exec_driver_sql(
                    f"EXPLAIN SELECT record_id FROM records_search WHERE {where}", params
                )
            )
            assert index in plan, plan
    assert found(w, conn, "华为技术") == ["r1"]
    assert found(w, conn, "华为") == ["r1", "r5"]
    assert found(w, conn, "华为 为技术") == ["r1"]  # a pair and a long word: both indexes


def test_a_broad_word_takes_the_row_by_row_path(
    world: World, conn: sa.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    for i in range(3):
        w.ids[f"hm{i}"] = insert_record(conn, w.cf, {"name": f"鸿蒙系统{i}"})
    index_pending(conn)
    if conn.dialect.name == "sqlite":
        # SQLite counts the index's hits up to BROAD_HITS
        monkeypatch.setattr(search_module, "BROAD_HITS", 3)
        assert search_module._broad(conn, ["鸿蒙系统"], "sqlite")
        assert not search_module._broad(conn, ["华为技术"], "sqlite")  # one record
        assert not search_module._broad(conn, ["鸿蒙系统", "华为技术"], "sqlite")  # both: none
        assert search_module._broad(conn, ["鸿蒙"], "sqlite")  # a pair: the pairs index
        assert not search_module._broad(conn, ["蒙无"], "sqlite")  # none
        assert search_module._broad(conn, ["鸿蒙", "系统"], "sqlite")
        assert not search_module._broad(conn, ["鸿蒙", "华为技术"], "sqlite")  # both indexes
    else:
        # PostgreSQL asks its planner, which never estimates fewer than one row
        monkeypatch.setattr(search_module, "BROAD_HITS", 1)
        assert search_module._broad(conn, ["鸿蒙系统"], "postgresql")
        monkeypatch.setattr(search_module, "BROAD_HITS", 10**9)
        assert not search_module._broad(conn, ["鸿蒙系统"], "postgresql")
        # with a two-character word: a threshold of its own
        monkeypatch.setattr(search_module, "PG_PAIRS_BROAD_HITS", 1)
        assert search_module._broad(conn, ["鸿蒙"], "postgresql")
        assert search_module._broad(conn, ["鸿蒙", "系统0"], "postgresql")
        monkeypatch.setattr(search_module, "PG_PAIRS_BROAD_HITS", 10**9)
        assert not search_module._broad(conn, ["鸿蒙"], "postgresql")
        monkeypatch.setattr(search_module, "BROAD_HITS", 1)
        assert not search_module._broad(conn, ["鸿蒙", "系统0"], "postgresql")
    # With the index emptied behind the engine's back, the index path finds nothing and the
    # row-by-row path still finds the records: the two paths are really separate.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO records_fts(records_fts) VALUES ('delete-all')")
    else:
        conn.exec_driver_sql("DELETE FROM records_search")
    monkeypatch.setattr(search_module, "BROAD_HITS", 10**9)
    monkeypatch.setattr(search_module, "PG_PAIRS_BROAD_HITS", 10**9)
    assert found(w, conn, "鸿蒙系统") == []
    monkeypatch.setattr(search_module, "BROAD_HITS", 0)
    monkeypatch.setattr(search_module, "PG_PAIRS_BROAD_HITS", 0)
    assert found(w, conn, "鸿蒙系统") == ["hm0", "hm1", "hm2"]
    assert found(w, conn, "鸿蒙") == ["hm0", "hm1", "hm2"]  # the pairs index emptied too


def test_a_broad_word_beside_a_narrow_one_is_matched_on_the_narrow_hits(
    world: World, conn: sa.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    for i in range(3):
        w.ids[f"hm{i}"] = insert_record(conn, w.cf, {"name": f"鸿蒙系统{i}", "notes": f"标{i}"})
    index_pending(conn)
    dialect = conn.dialect.name
    if dialect == "sqlite":  # exact counts: 「鸿蒙系统」 and 「蒙系」 are in three records each
        monkeypatch.setattr(search_module, "BROAD_HITS", 2)
        assert search_module._index_words(conn, ["鸿蒙系统", "标1"], dialect) == ["标1"]
        assert search_module._index_words(conn, ["系统1", "蒙系"], dialect) == ["系统1"]
        # words of one index are counted together: 「系统1」 makes 「鸿蒙系统」 narrow
        assert search_module._index_words(conn, ["鸿蒙系统", "系统1"], dialect) == [
            "鸿蒙系统",
            "系统1",
        ]
        assert search_module._index_words(conn, ["鸿蒙系统", "蒙系"], dialect) == []  # all broad
        monkeypatch.setattr(search_module, "BROAD_HITS", 4)
        assert search_module._index_words(conn, ["鸿蒙系统", "标1"], dialect) == ["鸿蒙系统", "标1"]
    else:  # judged together: narrow
        monkeypatch.setattr(search_module, "BROAD_HITS", 10**9)
        monkeypatch.setattr(search_module, "PG_PAIRS_BROAD_HITS", 10**9)
        assert search_module._index_words(conn, ["鸿蒙系统", "标1"], dialect) == ["鸿蒙系统", "标1"]
    # Which words are broad, decided here (the planner's estimates on a few rows are not
    # exact). SQLite asks the narrow side's index only and matches the broad words on its
    # hits row by row; PostgreSQL intersects its two indexes itself, so a combination that
    # is narrow keeps both. The answers are the same.
    broad_words = {"鸿蒙系统", "鸿蒙"}
    monkeypatch.setattr(
        search_module, "_broad", lambda _c, words, _d: all(x in broad_words for x in words)
    )
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append(f"{statement} {parameters}")

    sa.event.listen(conn, "before_cursor_execute", seen)
    try:
        assert found(w, conn, "鸿蒙系统 标1") == ["hm1"]
        assert found(w, conn, "鸿蒙 系统2") == ["hm2"]
        assert found(w, conn, "鸿蒙 鸿蒙系统") == ["hm0", "hm1", "hm2"]  # every word broad
    finally:
        sa.event.remove(conn, "before_cursor_execute", seen)
    pages = [s for s in statements if "capped_count" in s]
    assert len(pages) == 3, statements
    if dialect == "sqlite":
        assert "records_bigrams MATCH" in pages[0] and "records_fts MATCH" not in pages[0]
        assert '"鸿蒙系统"' not in pages[0] and "%鸿蒙系统%" in pages[0]  # a LIKE, row by row
        assert "records_fts MATCH" in pages[1] and "records_bigrams MATCH" not in pages[1]
        assert "MATCH" not in pages[2]
    else:
        for page in pages[:2]:
            assert "stageform_bigrams" in page and "s.search_text LIKE" in page, page
        assert "records_search AS s" not in pages[2]


def test_a_page_finds_the_index_hits_once(world: World, conn: sa.Connection) -> None:
    # The capped count and the rows share one materialized set of hits: the index is asked
    # once per statement (as a plain subquery in each, PostgreSQL searched twice).
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(conn, "before_cursor_execute", seen)
    try:
        assert found(world, conn, "华为技术") == ["r1"]
    finally:
        sa.event.remove(conn, "before_cursor_execute", seen)
    (page,) = [s for s in statements if "capped_count" in s]
    index = "records_fts MATCH" if conn.dialect.name == "sqlite" else "FROM records_search AS s"
    assert page.count(index) == 1, page
    assert "MATERIALIZED" in page


def test_pair_tokens_are_ascii_and_distinct() -> None:
    assert bigram_tokens(None) is None
    assert bigram_tokens("") == "" and bigram_tokens("华") == ""
    assert bigram_tokens("华东华东") is not None
    assert sorted((bigram_tokens("华东华东") or "").split()) == ["g4e1cx534e", "g534ex4e1c"]
    # any character, one token each (the ascii tokenizer splits on ASCII punctuation only)
    for pair in ("a-", "𠀀x", " \n", "Ab"):
        token = bigram_token(pair)
        assert token.isascii() and token.isalnum(), token
    assert len({bigram_token(p) for p in ("ab", "a\u0062", "ba", "AB")}) == 3
