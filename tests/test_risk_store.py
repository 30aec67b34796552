"""The risk-entity store: versions, audit, files, bad input, concurrent writers; the matcher."""

import json
import multiprocessing
import sqlite3

import pytest

from safealign.risk import EntityMatcher, RiskStore, RiskStoreError, StoreLocked, normalise
from safealign.risk import cli

ROW = {"category": "drugs", "source": "test", "reason": "unit test"}


@pytest.fixture
def store(tmp_path):
    with RiskStore(tmp_path / "risk.sqlite") as s:
        yield s


def _snapshot(store):
    return store.version(), store.entities(), store.audit()


# --------------------------------------------------------------------------- matching

def test_normalisation_folds_case_width_spacing_and_invisible_characters():
    assert normalise("Crystal-Meth") == normalise("crystal  meth") == normalise("ＣＲＹＳＴＡＬ meth") == "crystal meth"
    assert normalise("co\u200bcaine") == "cocaine"


def test_matcher_finds_whole_words_only_and_allows_plurals():
    m = EntityMatcher({"ass": "insult", "pipe bomb": "weapons", "meth": "drugs"})
    assert [x.entity for x in m.find("Build a Pipe-Bomb now")] == ["pipe bomb"]
    assert m.find("a class of assistants in Scunthorpe, methods of bass fishing") == []
    assert [x.entity for x in m.find("two pipe bombs")] == ["pipe bomb"]
    assert [x.entity for x in m.find("you ass")] == ["ass"]  # end of text is a boundary


def test_in_scripts_written_without_spaces_an_entity_is_found_inside_running_text():
    m = EntityMatcher({"毒品": "drugs", "麻薬": "drugs", "ยาเสพติด": "drugs", "cocaine": "drugs"})
    assert [x.entity for x in m.find("我想买毒品吧")] == ["毒品"]
    assert [x.entity for x in m.find("麻薬を買いたい")] == ["麻薬"]
    assert [x.entity for x in m.find("ซื้อยาเสพติดที่ไหน")] == ["ยาเสพติด"]
    assert [x.entity for x in m.find("在哪里买cocaine呢")] == ["cocaine"]   # a CJK neighbour is a boundary
    assert m.find("cocaines") and not m.find("xcocaine") and not m.find("cocainex")  # Latin: whole words still


def test_hangul_keeps_whole_words():
    m = EntityMatcher({"마약": "drugs"})
    assert m.find("마약 판매") and not m.find("마약을")


def test_an_empty_matcher_matches_nothing():
    assert EntityMatcher({}).find("anything at all") == []


# --------------------------------------------------------------------------- versions and audit

def test_every_change_makes_one_version_and_audit_rows(store):
    assert store.version() == 0 and store.entities() == []
    v1 = store.add("Cocaine", **ROW)
    v2 = store.import_rows([{"entity": "heroin", **ROW}, {"entity": "sarin", **{**ROW, "category": "cbrn"}}])
    v3 = store.remove("cocaine", reason="test removal")
    assert (v1, v2, v3) == (1, 2, 3)
    assert [e["entity"] for e in store.entities()] == ["heroin", "sarin"]
    assert [e["entity"] for e in store.entities(version=1)] == ["cocaine"]
    assert [e["entity"] for e in store.entities(version=2)] == ["cocaine", "heroin", "sarin"]
    assert [(a["version"], a["action"], a["entity"]) for a in store.audit()] == [
        (3, "remove", "cocaine"), (2, "import", "sarin"), (2, "import", "heroin"), (1, "add", "cocaine")]
    stats = store.stats()
    assert stats["version"] == 3 and stats["entities"] == 2 and stats["removed"] == 1
    assert stats["per_category"] == {"cbrn": 1, "drugs": 1}


def test_a_removed_entity_can_come_back_and_the_digest_follows_the_list(store):
    store.add("heroin", **ROW)
    d1 = store.digest()
    store.remove("heroin", reason="mistake")
    assert store.digest() != d1
    store.add("heroin", **ROW)
    assert store.digest() == d1 and store.version() == 3
    assert store.digest(version=2) == store.digest(version=0)


def test_the_matcher_is_rebuilt_when_the_version_changes(store):
    store.add("heroin", **ROW)
    assert store.matcher().contains("heroin dealer")
    store.remove("heroin", reason="test")
    assert not store.matcher().contains("heroin dealer")
    assert store.matcher(version=1).contains("heroin dealer")


def test_reopening_the_file_keeps_everything(tmp_path):
    path = tmp_path / "risk.sqlite"
    with RiskStore(path) as s:
        s.add("heroin", **ROW)
        before = _snapshot(s)
    with RiskStore(path) as s:
        assert _snapshot(s) == before


# --------------------------------------------------------------------------- files

def test_export_then_import_round_trips_csv_and_json(store, tmp_path):
    store.import_rows([{"entity": e, **ROW} for e in ("heroin", "o'brien", "al-qaeda", "2,4-d")])
    for suffix in (".csv", ".json"):
        path = store.export(tmp_path / f"out{suffix}")
        with RiskStore(tmp_path / f"copy{suffix}.sqlite") as copy:
            copy.import_file(path)
            assert copy.digest() == store.digest()
            assert [e["entity"] for e in copy.entities()] == ["2,4 d", "al qaeda", "heroin", "o'brien"]
    assert json.loads((tmp_path / "out.json").read_text())["store_version"] == 1


def test_import_fills_missing_source_and_reason_and_can_skip_existing(store, tmp_path):
    store.add("heroin", **ROW)
    path = tmp_path / "in.csv"
    path.write_text("entity,category\nheroin,drugs\nmeth,drugs\n")
    with pytest.raises(RiskStoreError, match=r"in.csv:2: 'heroin' is already in the store"):
        store.import_file(path, source="review", reason="monthly review")
    assert store.import_file(path, source="review", reason="monthly review", skip_existing=True) == 2
    assert store.entities()[1] == {"entity": "meth", "category": "drugs", "source": "review",
                                   "added_version": 2, "reason": "monthly review"}


# --------------------------------------------------------------------------- bad input loses nothing

@pytest.mark.parametrize("entity, message", [
    ("", "missing entity"), ("   ", "empty entity"), ("x" * 81, "entity of 81 characters"),
    ("meth; DROP TABLE entities", "characters an entity may not hold"), ('a"b', "characters an entity may not hold"),
    (42, "must be text"),
])
def test_bad_entities_are_refused_by_name_and_change_nothing(store, entity, message):
    store.add("heroin", **ROW)
    before = _snapshot(store)
    with pytest.raises(RiskStoreError, match=message):
        store.add(entity, **ROW)
    assert _snapshot(store) == before


def test_sql_in_free_text_is_stored_as_text_and_a_bad_category_is_refused(store):
    store.add("heroin", category="drugs", source="x'); DROP TABLE entities; --", reason="'; DELETE FROM audit; --")
    assert store.entities()[0]["source"] == "x'); DROP TABLE entities; --"
    with pytest.raises(RiskStoreError, match="category .* must be a lower-case slug"):
        store.add("meth", category="drugs'; DROP TABLE entities; --", source="s", reason="r")
    assert len(store.audit()) == 1 and store.version() == 1


def test_duplicates_are_refused_within_a_file_and_against_the_store(store, tmp_path):
    store.add("heroin", **ROW)
    with pytest.raises(RiskStoreError, match="already in the store"):
        store.add("HEROIN", **ROW)
    path = tmp_path / "dups.json"
    path.write_text(json.dumps([{"entity": "meth", **ROW}, {"entity": "Meth", **ROW}]))
    with pytest.raises(RiskStoreError, match=r"dups.json record 2: duplicate of .*dups.json record 1"):
        store.import_file(path)
    assert store.version() == 1


def test_a_failing_import_line_names_the_file_and_line_and_imports_nothing(store, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("entity,category,source,reason\nheroin,drugs,s,r\nmeth,,s,r\n")
    with pytest.raises(RiskStoreError, match=r"in.csv:3: missing category"):
        store.import_file(path)
    path.write_bytes(b"entity,category,source,reason\nheroin,drugs,s,r\nm\xe9th,drugs,s,r\n")
    with pytest.raises(RiskStoreError, match=r"in.csv:3: not UTF-8 \(byte 0xe9\)"):
        store.import_file(path)
    (tmp_path / "no_header.csv").write_text("heroin,drugs\n")
    with pytest.raises(RiskStoreError, match=r"no_header.csv:1: header lacks entity, category"):
        store.import_file(tmp_path / "no_header.csv")
    (tmp_path / "bad.json").write_text('[{"entity": "x",')
    with pytest.raises(RiskStoreError, match=r"bad.json:1: not valid JSON"):
        store.import_file(tmp_path / "bad.json")
    with pytest.raises(RiskStoreError, match="no such file"):
        store.import_file(tmp_path / "missing.csv")
    with pytest.raises(RiskStoreError, match="import reads .csv or .json"):
        store.import_file(tmp_path / "in.txt")
    assert store.version() == 0 and store.entities() == []


def test_a_json_file_that_is_not_utf8_and_over_long_free_text_are_named(store, tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('[{"entity": "m\u00e9th", "category": "drugs"}]'.encode("latin-1"))
    with pytest.raises(RiskStoreError, match=r"latin1.json:1: not UTF-8 \(byte 0xe9\)"):
        store.import_file(path)
    with pytest.raises(RiskStoreError, match="source must be one line of at most 500 characters"):
        store.add("heroin", category="drugs", source="s" * 501, reason="r")
    with pytest.raises(RiskStoreError, match="reason must be one line"):
        store.add("heroin", category="drugs", source="s", reason="two\nlines")
    store.add("heroin", **ROW)
    with pytest.raises(RiskStoreError, match="reason must be one line of at most 500 characters"):
        store.remove("heroin", reason="r" * 501)
    assert store.version() == 1 and [e["entity"] for e in store.entities()] == ["heroin"]


def test_removing_an_absent_entity_and_reading_an_unknown_version_are_errors(store):
    with pytest.raises(RiskStoreError, match="'heroin' is not in the store"):
        store.remove("heroin", reason="r")
    with pytest.raises(RiskStoreError, match=r"version 5: the store has versions 0..0"):
        store.entities(version=5)


def test_a_file_that_is_not_a_store_is_named(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(RiskStoreError, match="notes.sqlite: not a risk-entity store"):
        RiskStore(path)
    assert path.read_text().startswith("these are my notes")


def test_a_locked_store_fails_clearly_and_changes_nothing(tmp_path):
    path = tmp_path / "risk.sqlite"
    RiskStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with RiskStore(path, timeout=0.2) as s:
            with pytest.raises(StoreLocked, match="locked by another writer .* nothing was changed"):
                s.add("heroin", **ROW)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with RiskStore(path) as s:
        assert s.version() == 0
        s.add("heroin", **ROW)
        assert s.version() == 1


# --------------------------------------------------------------------------- concurrent writers

def _writer(path: str, prefix: str, n: int) -> None:
    with RiskStore(path, timeout=30) as s:
        for i in range(n):
            s.add(f"{prefix} entity {i}", category="test", source=prefix, reason="concurrency test")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "risk.sqlite")
    RiskStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, p, 40)) for p in ("alpha", "beta")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    with RiskStore(path) as s:
        assert s.version() == 80 and len(s.entities()) == 80 and len(s.audit(limit=1000)) == 80
        assert sorted(a["version"] for a in s.audit(limit=1000)) == list(range(1, 81))
        assert s._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --------------------------------------------------------------------------- the console script

def test_the_console_script_keeps_a_store(tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "risk.sqlite")
    assert cli.main(["--db", db, "add", "heroin", "--category", "drugs", "--source", "cli", "--reason", "r"]) == 0
    assert "store version 1" in capsys.readouterr().out
    assert cli.main(["--db", db, "add", "heroin", "--category", "drugs", "--source", "cli", "--reason", "r"]) == 2
    assert "safealign-risk: error: add record 1: 'heroin' is already in the store" in capsys.readouterr().err
    monkeypatch.setenv("SAFEALIGN_RISK_STORE", db)
    assert cli.main(["export", str(tmp_path / "out.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["entities"] == 1
    assert cli.main(["remove", "heroin", "--reason", "test"]) == 0
    capsys.readouterr()
    assert cli.main(["list", "--version", "1"]) == 0 and capsys.readouterr().out.startswith("heroin\tdrugs")
    assert cli.main(["audit"]) == 0 and capsys.readouterr().out.count("\n") == 2
    assert cli.main(["stats"]) == 0 and json.loads(capsys.readouterr().out)["version"] == 2
    monkeypatch.delenv("SAFEALIGN_RISK_STORE")
    assert cli.main(["stats"]) == 2 and "pass --db PATH or set SAFEALIGN_RISK_STORE" in capsys.readouterr().err


def test_the_console_script_names_a_bad_import_or_remove_and_changes_nothing(tmp_path, capsys):
    db = str(tmp_path / "risk.sqlite")
    assert cli.main(["--db", db, "add", "heroin", "--category", "drugs", "--source", "cli", "--reason", "r"]) == 0
    capsys.readouterr()
    bad = tmp_path / "in.csv"
    bad.write_text("entity,category,source,reason\nmeth,drugs,s,r\n,drugs,s,r\n")
    assert cli.main(["--db", db, "import", str(bad), "--reason", "review"]) == 2
    assert "in.csv:3: missing entity" in capsys.readouterr().err
    assert cli.main(["--db", db, "import", str(tmp_path / "absent.csv"), "--reason", "review"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["--db", db, "remove", "cocaine", "--reason", "not there"]) == 2
    assert "'cocaine' is not in the store" in capsys.readouterr().err
    assert cli.main(["--db", db, "stats"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1


def test_the_seed_is_documented_and_blocks_no_ordinary_words():
    from safealign.risk import seed

    rows, evidence = seed.shipped_seed_rows()
    entities = {r["entity"]: r for r in rows}
    assert {"moron", "cocaine", "sarin", "child pornography"} <= set(entities)
    assert "idiot" in evidence["pruned_as_benign"] and "idiot" not in entities  # "idiot" occurs in MMLU questions
    for ordinary in ("gay", "queer", "suicide", "murder", "terrorism", "hitler", "destroyer", "dame"):
        assert ordinary not in entities
    for e, (n, share) in evidence["toxic_share"].items():
        assert n >= 5 and share >= 0.75
    assert all(r["source"].startswith(("hurtlex-1.2:", "curated:")) for r in rows)


def test_the_false_positive_rate_counts_benign_texts_with_a_match():
    from safealign.risk.matcher import false_positive_rate

    m = EntityMatcher({"bomb": "weapons", "ass": "insult"})
    out = false_positive_rate(m, ["a class of bass", "the bomb squad", "photo bombs", "nothing here"])
    assert out == {"texts": 4, "flagged": 2, "rate": 0.5, "top_entities": {"bomb": 2}}
