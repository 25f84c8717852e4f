"""Records at scale (issue 3): queries, counts, aggregates and writes over 1,000,000 records.

``scripts/bench records [--backend sqlite|postgresql|both] [--records N] [--keep]``

The database holds N records (default 1,000,000) in the measured form (the CRM template's
``customer``) and N more in a second form (``lead``, the same definition): 2N in all. The app,
forms, indexes and search structures are made by the engine (``Services.create_app``,
``create_form``, ``publish_form``); the bulk of the data is then loaded with raw SQL
(``executemany`` on SQLite, ``COPY`` on PostgreSQL) in the stored format the pipeline writes
(``search_text`` from :func:`runtime.search_text.search_text`, unique-name claims, the serial
counter), with the forms' value tables (and their triggers) and the search index dropped during
the load and rebuilt after it the way publishing builds them (``create_indexes``, plus
``ANALYZE``). The preloaded records get no history or outbox rows (nothing measured reads
them).

Every figure stands beside the same work in hand-written SQL on the same data (the ratio
column). Query figures are wall-clock per call (p50/p95) in-process through
:func:`runtime.store.query.query_records` / ``aggregate_records`` on a read transaction, and
over HTTP against a real ``stageform serve`` (uvicorn, one worker) on 127.0.0.1 with an API
token. Writes: ``Services.bulk_create`` in batches of 1,000 (the whole pipeline: coercion,
defaults, formulas, validation, unique claims, history, outbox), and single creates over HTTP
from a few client threads. Server memory is its VmRSS after the run.

SQLite lives in a temp dir; PostgreSQL in a database of its own on ``STAGEFORM_BENCH_PG_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:55432/postgres``; the benchmark creates and
drops ``stageform_bench_<N>``). ``--keep`` keeps the loaded database (SQLite under
``$STAGEFORM_BENCH_DIR`` or ``/tmp/stageform-bench``) and reuses it on the next run with the
same N.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.report import Row, percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_N = 1_000_000
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
BATCH = 10_000
OWNERS = 10
FOLLOWUP_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BULK_BATCH = 1000
BULK_BATCHES = 20  # 20,000 records through the pipeline
HTTP_CREATES = 3000
HTTP_CREATE_SECONDS = 30.0
HTTP_THREADS = 4
QUERY_SAMPLES = 200
QUERY_SECONDS = 30.0
AGG_SAMPLES = 7
AGG_SECONDS = 60.0

TARGETS = {
    "page": 5.0,
    "http": 15.0,
    "count": 50.0,
    "agg": 300.0,
    "bulk": 20_000.0,
    "http_create": 500.0,
    "rss": 200.0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("records")
    group.add_argument(
        "--backend", choices=["sqlite", "postgresql", "both"], default="both",
        help="records: which database(s) (default both)",
    )  # fmt: skip
    group.add_argument(
        "--records", type=int, default=DEFAULT_N,
        help="records: records in the measured form (as many again in a second form)",
    )  # fmt: skip
    group.add_argument(
        "--keep", action="store_true", help="records: keep the loaded database and reuse it"
    )


def log(message: str) -> None:
    print(f"[records {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- data -------------------------------------------------------------------------------------

CITIES = [
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "成都",
    "重庆",
    "武汉",
    "西安",
    "苏州",
    "天津",
    "长沙",
    "郑州",
    "青岛",
    "厦门",
    "宁波",
    "合肥",
    "福州",
    "昆明",
    "大连",
    "沈阳",
    "济南",
    "无锡",
    "东莞",
    "佛山",
    "珠海",
    "南宁",
    "贵阳",
    "太原",
]
BRAND_CHARS = (
    "华盛恒信达瑞泰鑫康安宏博源鼎新辉腾飞远航明德嘉禾祥和丰汇通联创智科云海天正中国金银美佳乐优星光"
)
INDUSTRIES = [
    "科技",
    "信息",
    "网络",
    "贸易",
    "电子",
    "软件",
    "物流",
    "医药",
    "建材",
    "食品",
    "餐饮",
    "文化",
    "传媒",
    "教育",
    "咨询",
    "设计",
    "能源",
    "环保",
    "机械",
    "纺织",
]
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司", "发展有限公司", "工作室"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红文斌"
TITLES = ["总经理", "采购经理", "财务总监", "技术负责人", "行政主管", "销售经理"]
GRADES = (("A", 0.10), ("B", 0.20), ("C", 0.40), ("D", 0.30))
SOURCES = (("web", 0.5), ("referral", 0.3), ("event", 0.2))
TAGS = ["重点", "老客户", "渠道"]
_NB = len(BRAND_CHARS)
_COMBOS = len(CITIES) * _NB * _NB * len(INDUSTRIES) * len(SUFFIXES)
_PRIME = 1_000_003  # coprime with _COMBOS: i -> i * P mod M is a permutation


def company_name(i: int) -> str:
    """A unique, realistic company name for every i < _COMBOS (about 6.6 million)."""
    k = (i * _PRIME) % _COMBOS
    k, s = divmod(k, len(SUFFIXES))
    k, ind = divmod(k, len(INDUSTRIES))
    k, b2 = divmod(k, _NB)
    k, b1 = divmod(k, _NB)
    city = k % len(CITIES)
    return f"{CITIES[city]}{BRAND_CHARS[b1]}{BRAND_CHARS[b2]}{INDUSTRIES[ind]}{SUFFIXES[s]}"


def fresh_names(setup: Setup, size: int) -> int:
    """The first of ``size`` name numbers unused by the loaded data (0 … 2n) and by earlier
    runs on a kept database: blocks inside the name space (company_name repeats past _COMBOS,
    so an offset beyond it would wrap into used names), tried from a time-dependent one on
    until a sample of a block's names (every 50th, and its last) has none in the form's
    unique claims."""
    import sqlalchemy as sa

    n = setup.n
    blocks = (_COMBOS - 2 * n) // size
    if blocks < 1:
        raise SystemExit(f"records: too many records for unique names ({n:,})")
    first = time.time_ns() // 1000 % blocks
    probe = sa.text(
        "SELECT count(*) FROM record_unique WHERE form_id = :f AND field_key = 'name'"
        " AND value_key IN :keys"
    ).bindparams(sa.bindparam("keys", expanding=True))
    engine = sa.create_engine(setup.url)
    try:
        with engine.connect() as conn:
            for step in range(blocks):
                start = 2 * n + (first + step) % blocks * size
                sample = [*range(start, start + size, 50), start + size - 1]
                keys = [json.dumps(company_name(i), ensure_ascii=False) for i in sample]
                if not conn.execute(probe, {"f": setup.form_id, "keys": keys}).scalar():
                    return start
    finally:
        engine.dispose()
    raise SystemExit("records: every block of fresh names is used; load a new database")


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for value, w in weighted:
        if x < w:
            return value
        x -= w
    return weighted[-1][0]


def person(rng: random.Random) -> str:
    n = 1 if rng.random() < 0.4 else 2
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(n))


def phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def input_data(rng: random.Random, name: str) -> dict[str, Any]:
    """A record's data as a user would submit it (no owner, code, score)."""
    grade = _pick(rng, GRADES)
    d: dict[str, Any] = {"name": name, "grade": grade}
    if rng.random() < 0.5:
        d["tags"] = sorted(rng.sample(TAGS, rng.randint(1, 2)), key=TAGS.index)
    d["source"] = _pick(rng, SOURCES)
    if rng.random() < 0.8:
        d["phone"] = phone(rng)
    if rng.random() < 0.4:
        d["email"] = f"contact{rng.randrange(10**6)}@example.com"
    if rng.random() < 0.9:
        d["budget"] = rng.choice([1000, 5000, 10000, 20000, 50000, 100000, 300000, 1000000]) * (
            1 + rng.randrange(9)
        )
    if rng.random() < 0.85:
        at = FOLLOWUP_FROM + dt.timedelta(seconds=rng.randrange(365 * 86400 // 60) * 60)
        d["next_followup_at"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if grade == "A" and rng.random() < 0.5:
        d["vip_notes"] = f"{person(rng)}负责，季度回访"
    if rng.random() < 0.7:
        d["contacts"] = [
            {"contact_name": person(rng), "title": rng.choice(TITLES), "mobile": phone(rng)}
            for _ in range(rng.randint(1, 2))
        ]
    return d


def stored_data(d: dict[str, Any], owner: int, seq: int) -> dict[str, Any]:
    """What the pipeline stores for ``d``: plus owner (default), code (serial), score."""
    out = dict(d)
    out["owner"] = owner
    out["code"] = f"C202611-{seq:04d}"
    base = 100 if d["grade"] == "A" else 60 if d["grade"] == "B" else 20
    budget = d.get("budget")
    score = base + min(budget / 10000, 50) if budget is not None else None
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    out["score"] = score
    if score is None:
        del out["score"]
    return out


# --- set-up and loading -----------------------------------------------------------------------


@dataclass
class Setup:
    backend: str
    url: str  # SQLAlchemy URL
    n: int
    form_id: int  # the measured form
    other_form_id: int
    user_id: int
    token: str
    data_dir: Path
    load_seconds: float | None  # None: reused


def _customer_definition(key: str, name: str) -> dict[str, Any]:
    template = json.loads((ROOT / "templates_lib/crm/template.json").read_text(encoding="utf-8"))
    form = next(f for f in template["forms"] if f["key"] == "customer")
    return {**form, "key": key, "name": name}


def _pg_admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pg_url_for(base: str, dbname: str) -> str:
    head, _, _ = base.rpartition("/")
    return f"{head}/{dbname}"


def _create_structure(url: str, n: int) -> tuple[int, int, int, str, list[int]]:
    """Migrate, create users, a token, the app and both forms, publish. Returns
    (measured form id, other form id, bench user id, API token, owner ids)."""
    from app.security import hash_secret, new_api_token
    from runtime.actor import Actor
    from runtime.services import Services
    from runtime.store import users
    from runtime.store.database import Database

    db = Database(url)
    try:
        db.upgrade()
        svc = Services()
        token = new_api_token()
        with db.begin() as conn:
            owners = [
                users.create_user(
                    conn, email=f"sales{i}@example.com", name=f"销售{i}", password_hash=None
                ).id
                for i in range(OWNERS)
            ]
            user = users.create_user(
                conn, email="bench@example.com", name="bench", password_hash=None, is_admin=True
            )
            users.create_api_token(conn, user_id=user.id, token_hash=hash_secret(token), name="b")
            actor = Actor(user_id=user.id, is_admin=True)
            app = svc.create_app(conn, actor, key="crm", name=f"CRM bench {n}")
            f1 = svc.create_form(conn, actor, app.id, _customer_definition("customer", "客户"))
            f2 = svc.create_form(conn, actor, app.id, _customer_definition("lead", "线索"))
            svc.publish_form(conn, actor, f1.id)
            svc.publish_form(conn, actor, f2.id)
        return f1.id, f2.id, user.id, token, owners
    finally:
        db.dispose()


def _compiled(url: str, form_id: int) -> Any:
    from runtime.services import Services
    from runtime.store.database import Database

    db = Database(url)
    try:
        with db.read() as conn:
            return Services().compiled_form(conn, form_id)
    finally:
        db.dispose()


def generate(
    cf: Any, form_id: int, start_id: int, count: int, owners: list[int], seed: int, name_base: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of (id, form_id, data_json, search_text, owner, seq, name_json)."""
    from runtime.search_text import search_text

    rng = random.Random(seed)
    batch: list[tuple[Any, ...]] = []
    dumps = json.dumps
    for i in range(count):
        name = company_name(name_base + i)
        d = stored_data(input_data(rng, name), owners[i % len(owners)], i + 1)
        batch.append(
            (
                start_id + i,
                form_id,
                dumps(d, ensure_ascii=False, separators=(",", ":")),
                search_text(cf, d),
                d["owner"],
                dumps(name, ensure_ascii=False, separators=(",", ":")),
            )
        )
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress(done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    log(f"  loaded {done:,}/{total:,} ({rate:,.0f} rows/s, ~{(total - done) / rate:,.0f} s left)")


def _drop_value_tables(url: str, form_ids: list[int]) -> None:
    """Drop the forms' value tables and their triggers for the load: ``create_indexes`` (what
    publishing runs) builds and backfills them afterwards in one set-based pass."""
    from runtime.store.database import Database
    from runtime.store.values import drop_value_tables

    database = Database(url)
    try:
        with database.begin() as conn:
            for form_id in form_ids:
                drop_value_tables(conn, form_id)
    finally:
        database.dispose()


def load_sqlite(path: Path, n: int) -> tuple[int, int, int, str]:
    from runtime.store.bigrams import define_sqlite_function
    from runtime.store.database import Database
    from runtime.store.indexes import create_indexes

    url = f"sqlite:///{path}"
    f1, f2, user_id, token, owners = _create_structure(url, n)
    cfs = {f1: _compiled(url, f1), f2: _compiled(url, f2)}
    _drop_value_tables(url, [f1, f2])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = DELETE")
    for pragma in (
        "synchronous = OFF",
        "cache_size = -1048576",
        "temp_store = MEMORY",
        "locking_mode = EXCLUSIVE",
        "foreign_keys = OFF",
    ):
        db.execute(f"PRAGMA {pragma}")
    # Drop the per-form expression indexes and the search triggers during the load; both are
    # rebuilt afterwards (create_indexes; FTS5 'rebuild').
    triggers = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'records'"
    ).fetchall()
    for name, _ in triggers:
        db.execute(f"DROP TRIGGER {name}")
    for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_rec_f%'"
    ).fetchall():
        db.execute(f"DROP INDEX {name}")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    insert_record = (
        "INSERT INTO records (id, form_id, schema_version, stage, data, search_text, owner_id,"
        " created_at, created_by, updated_at, updated_by, version)"
        f" VALUES (?, ?, 1, 'new', ?, ?, ?, '{now}', {user_id}, '{now}', {user_id}, 1)"
    )
    insert_unique = "INSERT INTO record_unique (form_id, field_key, value_key, record_id) VALUES (?, 'name', ?, ?)"
    started = time.perf_counter()
    done, total = 0, 2 * n
    for k, form_id in enumerate((f1, f2)):
        for batch in generate(cfs[form_id], form_id, 1 + k * n, n, owners, 1000 + k, k * n):
            db.execute("BEGIN")
            db.executemany(insert_record, [(r[0], r[1], r[2], r[3], r[4]) for r in batch])
            db.executemany(insert_unique, [(r[1], r[5], r[0]) for r in batch])
            db.execute("COMMIT")
            done += len(batch)
            if done % (BATCH * 20) == 0 or done == total:
                _progress(done, total, started)
        db.execute(
            "INSERT INTO serial_counters (form_id, field_key, period, value) "
            "VALUES (?, 'code', '', ?)",
            (form_id, n),
        )
    log(f"  rows in {time.perf_counter() - started:,.0f} s; rebuilding the search index…")
    for _, sql in triggers:
        db.execute(sql)
    t = time.perf_counter()
    db.execute("INSERT INTO records_fts(records_fts) VALUES ('rebuild')")
    # The two-character index (contentless: filled from the same texts the rebuild read).
    define_sqlite_function(db)
    db.execute("INSERT INTO records_bigrams(records_bigrams) VALUES ('delete-all')")
    db.execute(
        "INSERT INTO records_bigrams(rowid, grams) "
        "SELECT id, stageform_bigrams(search_text) FROM records WHERE search_text IS NOT NULL"
    )
    # The rebuild indexed every record: anything queued before the load is applied by it.
    db.execute("DELETE FROM records_fts_queue")
    log(f"  FTS5 rebuild {time.perf_counter() - t:,.0f} s")
    db.execute("PRAGMA locking_mode = NORMAL")
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    t = time.perf_counter()
    database = Database(url)
    try:
        with database.begin() as conn:
            for cf in cfs.values():
                create_indexes(conn, cf)  # what publishing runs: value table, indexes, ANALYZE
    finally:
        database.dispose()
    log(f"  value tables + indexes + ANALYZE {time.perf_counter() - t:,.0f} s")
    return f1, f2, user_id, token


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    s = str(value)
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def load_postgresql(url: str, n: int) -> tuple[int, int, int, str]:
    import psycopg

    from runtime.store.database import Database
    from runtime.store.indexes import create_indexes

    f1, f2, user_id, token, owners = _create_structure(url, n)
    cfs = {f1: _compiled(url, f1), f2: _compiled(url, f2)}
    _drop_value_tables(url, [f1, f2])
    now = dt.datetime.now(dt.UTC).isoformat()
    with psycopg.connect(_pg_admin_url(url), autocommit=True) as pg:
        # Secondary indexes of records/record_unique and the search index are dropped for the
        # load and recreated.
        saved = pg.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.tablename IN ('records', 'record_unique', 'records_search') "
            "AND i.indexname NOT IN "
            "(SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _ in saved:
            pg.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        done, total = 0, 2 * n
        for k, form_id in enumerate((f1, f2)):
            for batch in generate(cfs[form_id], form_id, 1 + k * n, n, owners, 1000 + k, k * n):
                with pg.transaction(), pg.cursor() as cur:
                    with cur.copy(
                        "COPY records (id, form_id, schema_version, stage, data, search_text,"
                        " owner_id, created_at, created_by, updated_at, updated_by, version)"
                        " FROM STDIN"
                    ) as copy:
                        copy.write(
                            "".join(
                                f"{r[0]}\t{r[1]}\t1\tnew\t{_copy_text(r[2])}\t"
                                f"{_copy_text(r[3])}\t{r[4]}\t{now}\t{user_id}\t{now}\t"
                                f"{user_id}\t1\n"
                                for r in batch
                            )
                        )
                    with cur.copy(
                        "COPY record_unique (form_id, field_key, value_key, record_id) FROM STDIN"
                    ) as copy:
                        copy.write(
                            "".join(f"{r[1]}\tname\t{_copy_text(r[5])}\t{r[0]}\n" for r in batch)
                        )
                done += len(batch)
                if done % (BATCH * 20) == 0 or done == total:
                    _progress(done, total, started)
            pg.execute(
                "INSERT INTO serial_counters (form_id, field_key, period, value) "
                "VALUES (%s, 'code', '', %s)",
                (form_id, n),
            )
        pg.execute("SELECT setval(pg_get_serial_sequence('records', 'id'), %s)", (2 * n,))
        # The search index in one statement instead of the queue the COPYs filled (what
        # runtime.store.search_index would apply 1,000 records at a time).
        pg.execute(
            "INSERT INTO records_search (record_id, search_text) "
            "SELECT id, search_text FROM records WHERE search_text IS NOT NULL"
        )
        pg.execute("TRUNCATE records_search_queue")
        log(f"  rows in {time.perf_counter() - started:,.0f} s; rebuilding indexes…")
        pg.execute("SET maintenance_work_mem = '1GB'")
        for name, sql in saved:
            if name.startswith("ix_rec_f"):
                continue  # the publish-time indexes: rebuilt by create_indexes below
            t = time.perf_counter()
            pg.execute(sql)
            log(f"  {name} {time.perf_counter() - t:,.0f} s")
        pg.execute("VACUUM (ANALYZE) records")
        pg.execute("VACUUM (ANALYZE) record_unique")
        pg.execute("VACUUM (ANALYZE) records_search")
    t = time.perf_counter()
    database = Database(url)
    try:
        with database.begin() as conn:
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            for cf in cfs.values():
                create_indexes(conn, cf)
            conn.exec_driver_sql("ANALYZE records")
    finally:
        database.dispose()
    log(f"  value tables + indexes + ANALYZE {time.perf_counter() - t:,.0f} s")
    return f1, f2, user_id, token


def _existing(url: str, n: int) -> tuple[int, int, int, str] | None:
    """Reuse a kept database loaded with the same N: migrated to this code's schema (a kept
    database from an older checkout is upgraded), with a fresh token for its bench user."""
    import sqlalchemy as sa

    from app.security import hash_secret, new_api_token
    from runtime.store import search_index, users
    from runtime.store.database import Database

    try:
        db = Database(url)
    except Exception:
        return None
    try:
        if db.revision() is None:
            return None
        if db.revision() != db.head_revision():
            log(f"upgrading the kept database from revision {db.revision()}…")
            db.upgrade()
        search_index.drain(db)  # what an earlier run left queued
        with db.begin() as conn:
            rows = conn.execute(
                sa.text("SELECT id, key FROM forms WHERE key IN ('customer', 'lead') ORDER BY id")
            ).all()
            app_name = conn.execute(sa.text("SELECT name FROM apps WHERE key = 'crm'")).scalar()
            if len(rows) != 2 or app_name != f"CRM bench {n}":
                return None
            user = users.get_user_by_email(conn, "bench@example.com")
            if user is None:
                return None
            token = new_api_token()
            users.create_api_token(conn, user_id=user.id, token_hash=hash_secret(token), name="b")
            return rows[0].id, rows[1].id, user.id, token
    except Exception:
        return None
    finally:
        db.dispose()


@contextlib.contextmanager
def prepared(backend: str, n: int, keep: bool) -> Iterator[Setup]:
    cache = Path(os.environ.get("STAGEFORM_BENCH_DIR", "/tmp/stageform-bench"))
    tmp = Path(tempfile.mkdtemp(prefix="stageform-bench-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    pg_base = os.environ.get("STAGEFORM_BENCH_PG_URL", DEFAULT_PG)
    dbname = f"stageform_bench_{n}"
    try:
        if backend == "sqlite":
            folder = cache if keep else tmp
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"records-{n}.db"
            url = f"sqlite:///{path}"
        else:
            url = _pg_url_for(pg_base, dbname)
        found = _existing(url, n) if keep else None
        load_seconds = None
        if found is None:
            if backend == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            else:
                _pg_recreate(pg_base, dbname)
            log(f"{backend}: loading {2 * n:,} records ({n:,} in the measured form)…")
            t = time.perf_counter()
            loader = load_sqlite if backend == "sqlite" else load_postgresql
            found = loader(path if backend == "sqlite" else url, n)  # type: ignore[arg-type]
            load_seconds = time.perf_counter() - t
            log(f"{backend}: loaded in {load_seconds:,.0f} s")
        else:
            log(f"{backend}: reusing the kept database at {url}")
            _trim_kept(url, n)
        f1, f2, user_id, token = found
        yield Setup(backend, url, n, f1, f2, user_id, token, data_dir, load_seconds)
    finally:
        if backend == "postgresql" and not keep:
            with contextlib.suppress(Exception):
                _pg_drop(pg_base, dbname)
        shutil.rmtree(tmp, ignore_errors=True)


def _trim_kept(url: str, n: int) -> None:
    """Take a kept database back to what was loaded: the loader's records are ids 1 … 2n and
    write no events, so every later record (and its history, claims, stage log, value-table
    and search rows, by cascade and trigger) and every outbox event came from earlier runs'
    creates. Without this each run would measure a larger form than the one named."""
    import sqlalchemy as sa

    from runtime.store.database import Database
    from runtime.store.search_index import drain

    db = Database(url)  # its connections have foreign keys on (the cascades)
    engine = db.engine
    try:
        with engine.begin() as conn:
            extra = conn.execute(
                sa.text("SELECT count(*) FROM records WHERE id > :top"), {"top": 2 * n}
            ).scalar_one()
            if not extra:
                return
            log(f"trimming {extra:,} records left by earlier runs' creates…")
            conn.execute(sa.text("DELETE FROM records WHERE id > :top"), {"top": 2 * n})
            conn.execute(sa.text("DELETE FROM outbox"))
        # The deletes' search-queue entries applied, and (SQLite) the WAL they filled carried
        # into the database file: either left for the measurements would slow what they time.
        drain(db)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        db.dispose()
    if url.startswith("sqlite:///"):
        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            raw.execute("PRAGMA busy_timeout = 5000")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()


def _pg_recreate(base: str, dbname: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin_url(base), autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{dbname}"')


def _pg_drop(base: str, dbname: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin_url(base), autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# --- measuring --------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], count: int, seconds: float, warmup: int = 3) -> list[float]:
    """Milliseconds per call (wall clock), at most ``count`` calls or ``seconds``."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(out) < count and time.perf_counter() < deadline:
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


PAGE_FILTER = {"field": "grade", "op": "in", "value": ["A", "B"]}
PAGE_SORT = [{"field": "next_followup_at", "dir": "asc"}]
COUNT_FILTER = {"field": "grade", "op": "eq", "value": "B"}
GROUP_GRADE = {
    "group_by": [{"field": "grade"}],
    "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}],
}
GROUP_GRADE_MONTH = {
    "group_by": [{"field": "grade"}, {"field": "next_followup_at", "bucket": "month"}],
    "metrics": [{"op": "count"}, {"op": "sum", "field": "budget"}],
}


def raw_sql(dialect: str, table: str) -> dict[str, str]:
    """Hand-written SQL for the same work on the same storage: the form's value table
    (``runtime.store.values``) for filters, sorts, counts and groups, joined to ``records``
    for the page's rows (``:name`` parameters)."""
    g, nf, bud = "f_grade", "f_next_followup_at", "f_budget"
    if dialect == "sqlite":
        month = f"substr(datetime({nf}, '+8 hours'), 1, 7)"  # Asia/Shanghai has no DST since 1991
    else:
        month = f"to_char(({nf})::timestamptz AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
    # SQLite uses "> ''" (ISO text) as an index range; it does not so use IS NOT NULL.
    nonblank = "> ''" if dialect == "sqlite" else "IS NOT NULL"
    names = ["id", "form_id", "version", "stage", "data"]
    names += ["created_at", "created_by", "updated_at", "updated_by"]
    cols = ", ".join(f"r.{c}" for c in names)
    page = f"SELECT {cols}, v.{nf} FROM {table} v JOIN records r ON r.id = v.record_id"
    return {
        "first": f"{page} WHERE v.{g} IN ('A', 'B') AND v.{nf} {nonblank} "
        f"ORDER BY v.{nf}, v.record_id LIMIT 51",
        "next": f"{page} WHERE v.{g} IN ('A', 'B') AND v.{nf} >= :v "
        f"AND (v.{nf} > :v OR (v.{nf} = :v AND v.record_id > :id)) "
        f"ORDER BY v.{nf}, v.record_id LIMIT 51",
        "page_count": f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {g} IN ('A', 'B') "
        "LIMIT 10001) t",
        "count": f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {g} = 'B' LIMIT 10001) t",
        "count_exact": f"SELECT count(*) FROM {table} WHERE {g} = 'B'",
        "agg": f"SELECT {g}, count(*), sum({bud}) FROM {table} GROUP BY 1 ORDER BY 1",
        "agg2": f"SELECT {g}, {month}, count(*), sum({bud}) FROM {table} "
        "GROUP BY 1, 2 ORDER BY 1, 2",
    }


def _value_table_name(setup: Setup) -> str:
    from runtime.store.values import value_table

    return value_table(_compiled(setup.url, setup.form_id), setup.backend).name


class Raw:
    """A plain driver connection (sqlite3 / psycopg) for the baselines."""

    def __init__(self, setup: Setup) -> None:
        self.dialect = setup.backend
        if self.dialect == "sqlite":
            path = setup.url.removeprefix("sqlite:///")
            self.conn: Any = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA query_only = 1")
        else:
            import psycopg

            self.conn = psycopg.connect(_pg_admin_url(setup.url), autocommit=True)
        self.sql = raw_sql(self.dialect, _value_table_name(setup))

    def run(self, name: str, **params: Any) -> list[Any]:
        sql = self.sql[name]
        if self.dialect == "postgresql":
            sql = sql.replace(":v", "%(v)s").replace(":id", "%(id)s")
        cur = self.conn.execute(sql, params)
        rows = cur.fetchall()
        if self.dialect == "sqlite":
            return rows
        return rows

    def page(self, name: str, **params: Any) -> list[Any]:
        """A page as the engine returns it: rows decoded (JSON), plus the capped count."""
        rows = self.run(name, **params)
        if self.dialect == "sqlite":
            items = [(r[0], orjson.loads(r[4])) for r in rows]
        else:
            items = [(r[0], r[4]) for r in rows]
        self.run("page_count")
        return items

    def close(self) -> None:
        self.conn.close()


def measure_inprocess(setup: Setup) -> list[Row]:
    from runtime.actor import Actor
    from runtime.services import Services
    from runtime.store.database import Database

    db = Database(setup.url)
    svc = Services()
    actor = Actor(user_id=setup.user_id, is_admin=True)
    raw = Raw(setup)
    try:
        rows = measure_reads(setup, db, svc, actor, raw)
        extra: list[Row] = []
        rows.append(bulk_create(setup, db, svc, actor, raw, extra))
        rows.extend(extra)
    finally:
        raw.close()
        db.dispose()
    return rows


def measure_reads(setup: Setup, db: Any, svc: Any, actor: Any, raw: Raw) -> list[Row]:
    """Pages, counts and aggregates in-process, each beside its raw SQL."""
    rows: list[Row] = []
    b = setup.backend

    def q(body: dict[str, Any]) -> dict[str, Any]:
        with db.read() as conn:
            return svc.query(conn, actor, setup.form_id, body)

    def agg(body: dict[str, Any]) -> dict[str, Any]:
        with db.read() as conn:
            return svc.aggregate(conn, actor, setup.form_id, body)

    first_body = {"filter": PAGE_FILTER, "sort": PAGE_SORT, "limit": 50}
    first = q(first_body)
    assert len(first["items"]) == 50 and first["next_cursor"], first.get("count")
    next_body = {**first_body, "cursor": first["next_cursor"]}
    # Raw: the same first page, and the page after its 50th row.
    base_first = raw.page("first")
    last = first["items"][-1]
    v, last_id = last["data"]["next_followup_at"], last["id"]
    assert [r[0] for r in base_first[:50]] == [i["id"] for i in first["items"]]
    base_next = raw.page("next", v=v, id=last_id)
    engine_next = q(next_body)
    assert [r[0] for r in base_next[:50]] == [i["id"] for i in engine_next["items"]]

    for label, fn, base in (
        ("first page", lambda: q(first_body), lambda: raw.page("first")),
        ("keyset next page", lambda: q(next_body), lambda: raw.page("next", v=v, id=last_id)),
    ):
        ours = timed(fn, QUERY_SAMPLES, QUERY_SECONDS)
        theirs = timed(base, QUERY_SAMPLES, QUERY_SECONDS)
        for pct in (50, 95):
            figure = percentile(ours, pct)
            rows.append(
                Row(
                    f"{b}: grade in [A,B] by next_followup_at, {label} of 50 p{pct}",
                    figure,
                    "ms",
                    f"raw SQL page + capped count p{pct}",
                    percentile(theirs, pct),
                    f"< {TARGETS['page']:.0f} ms" if pct == 50 else "",
                    figure < TARGETS["page"] if pct == 50 else None,
                )
            )

    count_body = {"filter": COUNT_FILTER, "limit": 1}
    got = q(count_body)
    exact = raw.run("count_exact")[0][0]
    ours = timed(lambda: q(count_body), QUERY_SAMPLES, QUERY_SECONDS)
    theirs = timed(lambda: raw.run("count"), QUERY_SAMPLES, QUERY_SECONDS)
    figure = percentile(ours, 50)
    rows.append(
        Row(
            f"{b}: count grade = B ({exact:,} match; engine: capped at "
            f"{got['count']:,}, capped={got['count_capped']}) p50",
            figure,
            "ms",
            "raw capped count p50",
            percentile(theirs, 50),
            f"< {TARGETS['count']:.0f} ms",
            figure < TARGETS["count"],
        )
    )
    exact_t = timed(lambda: raw.run("count_exact"), 10, 30, warmup=1)
    rows.append(
        Row(
            f"{b}: (reference) exact count grade = B, raw SQL p50",
            percentile(exact_t, 50),
            "ms",
        )
    )

    for label, body, name in (
        ("group by grade: count + sum(budget)", GROUP_GRADE, "agg"),
        ("group by grade x month(next_followup_at): count + sum", GROUP_GRADE_MONTH, "agg2"),
    ):
        result = agg(body)
        base_rows = raw.run(name)
        assert len(result["groups"]) == len(base_rows), (len(result["groups"]), len(base_rows))
        ours = timed(lambda body=body: agg(body), AGG_SAMPLES, AGG_SECONDS, warmup=1)
        theirs = timed(lambda name=name: raw.run(name), AGG_SAMPLES, AGG_SECONDS, warmup=1)
        figure = percentile(ours, 50)
        rows.append(
            Row(
                f"{b}: {label} over {setup.n:,} p50",
                figure,
                "ms",
                "raw GROUP BY p50",
                percentile(theirs, 50),
                f"< {TARGETS['agg']:.0f} ms",
                figure < TARGETS["agg"],
            )
        )
    return rows


def bulk_create(
    setup: Setup, db: Any, svc: Any, actor: Any, raw: Raw, extra_rows: list[Row]
) -> Row:
    """Services.bulk_create, BULK_BATCHES batches of 1,000, each its own transaction."""
    rng = random.Random(7)
    base_name = fresh_names(setup, BULK_BATCH * BULK_BATCHES * 2)
    batches = [
        [{"data": input_data(rng, company_name(base_name + b * BULK_BATCH + i))}
         for i in range(BULK_BATCH)]
        for b in range(BULK_BATCHES)
    ]  # fmt: skip
    raw_batches = [
        [{"data": input_data(rng, company_name(base_name + BULK_BATCH * BULK_BATCHES + b * BULK_BATCH + i))}
         for i in range(BULK_BATCH)]
        for b in range(BULK_BATCHES // 4)
    ]  # fmt: skip
    started = time.perf_counter()
    deadline = started + 60
    done = 0
    for batch in batches:
        with db.begin() as conn:
            created = svc.bulk_create(conn, actor, setup.form_id, batch)
        done += len(created)
        if time.perf_counter() > deadline:
            break
    ours = done / (time.perf_counter() - started)
    if setup.backend == "sqlite":
        first = base_name + BULK_BATCH * BULK_BATCHES * 3 // 2  # names no other batch uses
        replay_batches = [
            [{"data": input_data(rng, company_name(first + b * BULK_BATCH + i))}
             for i in range(BULK_BATCH)]
            for b in range(2)
        ]  # fmt: skip
        extra_rows.append(_replayed(setup, db, svc, actor, replay_batches))
    # The ceiling the pipeline alone sets: prepare_create for one batch, rolled back.
    from runtime.pipeline import prepare_create

    cf = _compiled(setup.url, setup.form_id)
    with db.engine.connect() as conn:
        tx = conn.begin()
        ctx = svc._context(actor)
        access = svc._access(conn, cf)
        access.serial_block = len(raw_batches[0])  # as bulk_create: one serial block a batch
        t = time.perf_counter()
        for item in raw_batches[0]:
            prepare_create(cf, item["data"], ctx, access, stage=cf.initial_stage)
        pipeline_rate = len(raw_batches[0]) / (time.perf_counter() - t)
        tx.rollback()
    extra_rows.append(
        Row(
            f"{setup.backend}: (reference) pipeline prepare_create alone, no writes",
            pipeline_rate,
            "records/s",
        )
    )
    # Baseline: the same work in raw SQL — for each record of a batch the rows a create writes
    # (the record, with its triggers; its unique claim; its history entry with the diff; its
    # record.created event; its stay in the first stage), one transaction a batch, the rows
    # built in Python as plainly as possible.

    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    base_done = 0
    for batch in raw_batches:
        rows = []
        for item in batch:
            d = stored_data(item["data"], setup.user_id, 0)
            rows.append(RawRecord.of(cf, d))
        base_done += len(rows)
        _raw_insert(setup, rows, now)
    theirs = base_done / (time.perf_counter() - started)
    return Row(
        f"{setup.backend}: bulk_create through the pipeline, {BULK_BATCH}/batch ({done:,} rows)",
        ours, "records/s", "raw SQL: records, claims, history, events, stays", theirs,
        f">= {TARGETS['bulk']:,.0f}/s", ours >= TARGETS["bulk"],
    )  # fmt: skip


def _replayed(setup: Setup, db: Any, svc: Any, actor: Any, batches: list[list[Any]]) -> Row:
    """SQLite: the floor that the writes alone set. Each batch goes through
    ``Services.bulk_create`` once with the driver's trace callback on (the exact statements,
    their values expanded) and is rolled back; its statements are then run again on a plain
    ``sqlite3`` connection — ``BEGIN IMMEDIATE``, the statements, ``COMMIT``, no Python work
    between them — and that is what is timed. (The rows get the same ids the second time: the
    rollback freed them.)"""
    path = setup.url.removeprefix("sqlite:///")
    seconds = 0.0
    done = 0
    for batch in batches:
        statements: list[str] = []
        with db.engine.connect() as conn:
            tx = conn.begin()
            driver = conn.connection.driver_connection
            driver.set_trace_callback(statements.append)
            try:
                svc.bulk_create(conn, actor, setup.form_id, batch)
            finally:
                driver.set_trace_callback(None)
            tx.rollback()
        # The callback fires again for a statement at each trigger program it starts (once a
        # row here), with the same text: a statement is taken once.
        work = [
            q
            for i, q in enumerate(statements)
            if (i == 0 or statements[i - 1] != q)
            and q not in ("BEGIN", "COMMIT", "ROLLBACK")
            and not q.startswith(("--", "SAVEPOINT", "RELEASE", "PRAGMA"))
        ]
        plain = sqlite3.connect(path, isolation_level=None)
        try:
            plain.execute("PRAGMA busy_timeout = 5000")
            plain.execute("PRAGMA foreign_keys = ON")
            plain.execute("PRAGMA synchronous = NORMAL")
            plain.execute("PRAGMA wal_autocheckpoint = 0")  # as the engine's writer
            (top,) = plain.execute("SELECT max(id) FROM records").fetchone()
            started = time.perf_counter()
            plain.execute("BEGIN IMMEDIATE")
            for q in work:
                plain.execute(q).fetchall()
            plain.execute("COMMIT")
            seconds += time.perf_counter() - started
            (written,) = plain.execute(
                "SELECT count(*) FROM records WHERE id > ?", (top,)
            ).fetchone()
            if written != len(batch):
                raise RuntimeError(f"replay wrote {written} records, not {len(batch)}")
        finally:
            plain.close()
        done += len(batch)
    return Row(
        f"{setup.backend}: (reference) the bulk's own statements replayed, no Python between "
        f"them ({done:,} rows)",
        done / seconds,
        "records/s",
    )


@dataclass(frozen=True)
class RawRecord:
    """What the raw baseline writes for one record (JSON texts)."""

    data: str
    search: str
    name_key: str  # the unique claim's key: the name as JSON, as the engine stores it
    diff: str

    @classmethod
    def of(cls, cf: Any, d: dict[str, Any]) -> RawRecord:
        """The texts for stored data ``d`` of form ``cf``, as plainly as they can be made."""
        from runtime.search_text import search_text

        return cls(
            data=json.dumps(d, ensure_ascii=False),
            search=search_text(cf, d),
            name_key=json.dumps(d["name"], ensure_ascii=False),
            diff=json.dumps({k: [None, v] for k, v in d.items()}, ensure_ascii=False),
        )


def _event_payload(record_id: int, form_id: int, actor_id: int) -> str:
    """A ``record.created`` event's payload, as the engine writes it."""
    return f'{{"record_id":{record_id},"form_id":{form_id},"version":1,"actor_id":{actor_id}}}'


def _raw_insert(setup: Setup, rows: list[RawRecord], now: dt.datetime) -> None:
    """One batch of the raw baseline, in one transaction (see :func:`bulk_create`)."""
    form, user = setup.form_id, setup.user_id

    if setup.backend == "sqlite":
        conn = sqlite3.connect(setup.url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE")
            stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

            def many(
                sql: str, one: str, values: list[tuple[Any, ...]], returning: str = ""
            ) -> list[Any]:
                # Multi-row VALUES, 500 rows a statement, as the engine writes.
                out: list[Any] = []
                for k in range(0, len(values), 500):
                    chunk = values[k : k + 500]
                    statement = sql + ", ".join([one] * len(chunk)) + returning
                    cur = conn.execute(statement, [v for r in chunk for v in r])
                    out.extend(r[0] for r in cur.fetchall())
                return out

            ids = many(
                "INSERT INTO records (form_id, schema_version, stage, data, search_text, owner_id,"
                " created_at, created_by, updated_at, updated_by, version) VALUES ",
                f"({form}, 1, 'new', ?, ?, {user}, '{stamp}', {user}, '{stamp}', {user}, 1)",
                [(r.data, r.search) for r in rows],
                returning=" RETURNING id",
            )
            many(
                "INSERT INTO record_unique (form_id, field_key, value_key, record_id) VALUES ",
                f"({form}, 'name', ?, ?)",
                [(r.name_key, i) for r, i in zip(rows, ids, strict=True)],
            )
            many(
                "INSERT INTO record_history (record_id, form_id, version, action, actor_id, at,"
                " diff) VALUES ",
                f"(?, {form}, 1, 'create', {user}, '{stamp}', ?)",
                [(i, r.diff) for r, i in zip(rows, ids, strict=True)],
            )
            many(
                "INSERT INTO outbox (topic, payload, created_at, available_at, attempts) VALUES ",
                f"('record.created', ?, '{stamp}', '{stamp}', 0)",
                [(_event_payload(i, form, user),) for i in ids],
            )
            many(
                "INSERT INTO stage_log (record_id, form_id, to_stage, actor_id, at) VALUES ",
                f"(?, {form}, 'new', {user}, '{stamp}')",
                [(i,) for i in ids],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(_pg_admin_url(setup.url)) as pg, pg.cursor() as cur:
        cur.executemany(
            "INSERT INTO records (form_id, schema_version, stage, data, search_text, owner_id,"
            " created_at, created_by, updated_at, updated_by, version)"
            " VALUES (%s, 1, 'new', %s, %s, %s, %s, %s, %s, %s, 1) RETURNING id",
            [(form, r.data, r.search, user, now, user, now, user) for r in rows],
            returning=True,
        )
        ids = []
        while True:
            ids.append(cur.fetchone()[0])  # type: ignore[index]
            if not cur.nextset():
                break
        # COPY, as the engine writes a batch's other rows.
        with cur.copy(
            "COPY record_unique (form_id, field_key, value_key, record_id) FROM STDIN"
        ) as copy:
            for r, i in zip(rows, ids, strict=True):
                copy.write_row((form, "name", r.name_key, i))
        with cur.copy(
            "COPY record_history (record_id, form_id, version, action, actor_id, at, diff)"
            " FROM STDIN"
        ) as copy:
            for r, i in zip(rows, ids, strict=True):
                copy.write_row((i, form, 1, "create", user, now, r.diff))
        with cur.copy(
            "COPY outbox (topic, payload, created_at, available_at, attempts) FROM STDIN"
        ) as copy:
            for i in ids:
                copy.write_row(("record.created", _event_payload(i, form, user), now, now, 0))
        with cur.copy(
            "COPY stage_log (record_id, form_id, to_stage, actor_id, at) FROM STDIN"
        ) as copy:
            for i in ids:
                copy.write_row((i, form, "new", user, now))


# --- HTTP -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def server(setup: Setup) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {
        **os.environ,
        "STAGEFORM_DATABASE_URL": setup.url,
        "STAGEFORM_DATA_DIR": str(setup.data_dir),
        "STAGEFORM_HOST": "127.0.0.1",
    }
    logf = open(setup.data_dir / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "serve",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {(setup.data_dir / 'server.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 60 s")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        logf.close()


def catch_up_search_index(setup: Setup) -> Row:
    """What ``stageform index`` does after writes made while no server ran (the in-process
    bulk creates): the search queue applied, so that the server measured next does not spend
    its first seconds indexing them beside the requests being timed."""
    from runtime.store.database import Database
    from runtime.store.search_index import drain

    db = Database(setup.url)
    try:
        started = time.perf_counter()
        applied = drain(db)
        seconds = time.perf_counter() - started
    finally:
        db.dispose()
    return Row(
        f"{setup.backend}: (reference) search index catch-up after the bulk ({applied:,} records)",
        applied / seconds if seconds and applied else 0.0,
        "records/s",
    )


def measure_http(setup: Setup, page_rows: list[Row]) -> list[Row]:
    import httpx

    b = setup.backend
    rows: list[Row] = []
    baseline = {r.name.split(", ")[-1]: r for r in page_rows if "grade in [A,B]" in r.name}
    headers = {"Authorization": f"Bearer {setup.token}"}
    with server(setup) as (base, proc), httpx.Client(base_url=base, headers=headers) as client:
        url = f"/api/v1/forms/{setup.form_id}/records/query"
        first_body = {"filter": PAGE_FILTER, "sort": PAGE_SORT, "limit": 50}
        r = client.post(url, json=first_body, timeout=30)
        r.raise_for_status()
        next_body = {**first_body, "cursor": r.json()["next_cursor"]}
        # Pages are timed with the standard library's keep-alive client, as the creates
        # below: the client shares the server's two cores, and httpx spent ≈ 2.6–2.8 ms of
        # CPU a page here (http.client ≈ 1.0 ms), which showed as ≈ 2 ms more a page.
        host, port = base.removeprefix("http://").split(":")
        page_client = http.client.HTTPConnection(host, int(port), timeout=30)
        page_headers = {**headers, "Content-Type": "application/json"}
        for label, body in (("first page", first_body), ("keyset next page", next_body)):
            encoded_body = orjson.dumps(body)

            def call(encoded_body: bytes = encoded_body) -> None:
                page_client.request("POST", url, body=encoded_body, headers=page_headers)
                resp = page_client.getresponse()
                text = resp.read()
                assert resp.status == 200, text[:500]
                assert len(orjson.loads(text)["items"]) == 50

            ours = timed(call, QUERY_SAMPLES, QUERY_SECONDS)
            for pct in (50, 95):
                figure = percentile(ours, pct)
                ref = baseline.get(f"{label} of 50 p{pct}")
                rows.append(
                    Row(
                        f"{b}: HTTP {label} of 50 (query as above) p{pct}",
                        figure,
                        "ms",
                        f"raw SQL page p{pct}",
                        ref.baseline_figure if ref else None,
                        f"< {TARGETS['http']:.0f} ms" if pct == 50 else "",
                        figure < TARGETS["http"] if pct == 50 else None,
                    )
                )
        page_client.close()
        # Single creates from HTTP_THREADS client threads, bounded in count and time.
        rng = random.Random(11)
        base_name = fresh_names(setup, HTTP_CREATES)
        bodies = [
            {"data": input_data(rng, company_name(base_name + i))} for i in range(HTTP_CREATES)
        ]
        create_url = f"/api/v1/forms/{setup.form_id}/records"
        lock = threading.Lock()
        state = {"next": 0, "ok": 0, "bad": 0}
        deadline = time.perf_counter() + HTTP_CREATE_SECONDS
        failures: list[str] = []

        # The load generator is the standard library's keep-alive HTTP client: httpx costs
        # ≈ 1 ms of CPU a request here (as much as a trivial FastAPI route), and the client
        # threads share the server's two cores; http.client costs ≈ 0.2 ms.
        encoded = [orjson.dumps(body) for body in bodies]
        post_headers = page_headers

        def worker() -> None:
            c = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                while time.perf_counter() < deadline:
                    with lock:
                        i = state["next"]
                        if i >= len(encoded):
                            return
                        state["next"] = i + 1
                    c.request("POST", create_url, body=encoded[i], headers=post_headers)
                    resp = c.getresponse()
                    text = resp.read()
                    with lock:
                        if resp.status == 201:
                            state["ok"] += 1
                        else:
                            state["bad"] += 1
                            if len(failures) < 3:
                                failures.append(f"{resp.status} {text[:300]!r}")
            finally:
                c.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(HTTP_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=HTTP_CREATE_SECONDS + 60)
        elapsed = time.perf_counter() - started
        if failures:
            log(f"{b}: failed creates: {failures}")
        rate = state["ok"] / elapsed
        # Baseline: the same work as single creates in raw SQL, one transaction each.
        base_rate = _raw_single_inserts(setup, bodies[: min(state["ok"], 1000)] or bodies[:100])
        rows.append(
            Row(
                f"{b}: HTTP single creates, {HTTP_THREADS} client threads "
                f"({state['ok']:,} ok, {state['bad']} failed)",
                rate,
                "records/s",
                "raw SQL, the same work, 1 connection",
                base_rate,
                f">= {TARGETS['http_create']:.0f}/s",
                rate >= TARGETS["http_create"] and not state["bad"],
            )
        )
        rss = _rss_mb(proc.pid)
        rows.append(
            Row(
                f"{b}: server RSS after the run",
                rss,
                "MB",
                "",
                None,
                f"< {TARGETS['rss']:.0f} MB",
                rss < TARGETS["rss"],
            )
        )
    return rows


def _raw_single_inserts(setup: Setup, bodies: list[dict[str, Any]]) -> float:
    """Records/s of the same work as single creates in raw SQL, one transaction each, from one
    connection: the serial number's upsert, then what a create writes (the record with its
    triggers, its unique claim, its history entry, its event, its stay), then the commit."""
    cf = _compiled(setup.url, setup.form_id)

    form, user = setup.form_id, setup.user_id
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i, item in enumerate(bodies):
        d = stored_data({**item["data"], "name": item["data"]["name"] + "·raw"}, user, i)
        rows.append(RawRecord.of(cf, d))
    serial = (
        "INSERT INTO serial_counters (form_id, field_key, period, value) VALUES ({p}, 'code', '', 1)"
        " ON CONFLICT (form_id, field_key, period) DO UPDATE"
        " SET value = serial_counters.value + 1 RETURNING value"
    )
    record = (
        "INSERT INTO records (form_id, schema_version, stage, data, search_text, owner_id,"
        " created_at, created_by, updated_at, updated_by, version)"
        " VALUES ({p}, 1, 'new', {p}, {p}, {p}, {p}, {p}, {p}, {p}, 1) RETURNING id"
    )
    claim = "INSERT INTO record_unique (form_id, field_key, value_key, record_id) VALUES ({p}, 'name', {p}, {p})"
    history = (
        "INSERT INTO record_history (record_id, form_id, version, action, actor_id, at, diff)"
        " VALUES ({p}, {p}, 1, 'create', {p}, {p}, {p})"
    )
    event = (
        "INSERT INTO outbox (topic, payload, created_at, available_at, attempts)"
        " VALUES ('record.created', {p}, {p}, {p}, 0)"
    )
    stay = "INSERT INTO stage_log (record_id, form_id, to_stage, actor_id, at) VALUES ({p}, {p}, 'new', {p}, {p})"

    def write(execute: Callable[[str, tuple[Any, ...]], Any], r: RawRecord, at: Any) -> None:
        execute(serial, (form,)).fetchone()
        (record_id,) = execute(
            record, (form, r.data, r.search, user, at, user, at, user)
        ).fetchone()
        execute(claim, (form, r.name_key, record_id))
        execute(history, (record_id, form, user, at, r.diff))
        execute(event, (_event_payload(record_id, form, user), at, at))
        execute(stay, (record_id, form, user, at))

    started = time.perf_counter()
    if setup.backend == "sqlite":
        conn = sqlite3.connect(setup.url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

        def sqlite_execute(sql: str, params: tuple[Any, ...]) -> Any:
            return conn.execute(sql.replace("{p}", "?"), params)

        for r in rows:
            conn.execute("BEGIN IMMEDIATE")
            write(sqlite_execute, r, stamp)
            conn.execute("COMMIT")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(_pg_admin_url(setup.url)) as pg:

            def pg_execute(sql: str, params: tuple[Any, ...]) -> Any:
                return pg.execute(sql.replace("{p}", "%s"), params)

            for r in rows:
                with pg.transaction():
                    write(pg_execute, r, now)
    return len(rows) / (time.perf_counter() - started)


# --- entry point ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> list[Row]:
    backend = getattr(args, "backend", "both")
    n = int(getattr(args, "records", DEFAULT_N))
    keep = bool(getattr(args, "keep", False))
    backends = ["sqlite", "postgresql"] if backend == "both" else [backend]
    rows: list[Row] = []
    for b in backends:
        with prepared(b, n, keep) as setup:
            if setup.load_seconds is not None:
                rows.append(
                    Row(
                        f"{b}: load {2 * n:,} records (raw SQL + index builds)",
                        setup.load_seconds,
                        "s",
                    )
                )
            log(f"{b}: measuring in-process…")
            inproc = measure_inprocess(setup)
            rows.extend(inproc)
            rows.append(catch_up_search_index(setup))
            log(f"{b}: measuring over HTTP…")
            rows.extend(measure_http(setup, inproc))
    return rows
