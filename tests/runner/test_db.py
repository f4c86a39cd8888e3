from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from runner.core.errors import DatabaseUnavailable
from runner.store.db import Target, available_migrations, env_exports, migrate, redact
from tests.runner.helpers import run_cli, sim_config, with_database

SCHEMA_SNAPSHOT = """
select table_schema, table_name, column_name, data_type, is_nullable
  from information_schema.columns
 where table_schema in ('raw', 'control', 'quarantine')
 order by 1, 2, ordinal_position
"""


def test_init_twice_changes_nothing(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    first = run_cli("--config", str(path), "init", "--json")
    assert first.exit_code == 0, first.output
    schema = db.execute(SCHEMA_SNAPSHOT).fetchall()
    roasters = db.execute("select * from raw.roasters order by id").fetchall()
    migrations = db.execute("select version, checksum, applied_at from control.schema_migrations").fetchall()
    second = run_cli("--config", str(path), "init", "--json")
    assert second.exit_code == 0
    assert json.loads(second.stdout)["migrations_applied"] == []
    assert db.execute(SCHEMA_SNAPSHOT).fetchall() == schema
    assert db.execute("select * from raw.roasters order by id").fetchall() == roasters  # not even updated_at
    assert db.execute("select version, checksum, applied_at from control.schema_migrations").fetchall() == migrations
    assert [m[0] for m in migrations] == [m.version for m in available_migrations()]


def test_fresh_database_gets_every_migration(pg_admin_url):
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute("drop database if exists coffee_fresh_mig with (force)")
        admin.execute("create database coffee_fresh_mig")
    url = pg_admin_url.replace("/postgres", "/coffee_fresh_mig", 1) if "/postgres" in pg_admin_url else None

    url = with_database(pg_admin_url, "coffee_fresh_mig")
    with psycopg.connect(url, autocommit=True) as conn:
        assert migrate(conn) == [m.version for m in available_migrations()]
        assert migrate(conn) == []
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute("drop database coffee_fresh_mig with (force)")


def test_edited_migration_is_refused(db):
    db.execute("update control.schema_migrations set checksum = 'edited' where version = '0001'")
    with pytest.raises(DatabaseUnavailable, match="changed after it was applied"):
        migrate(db)


def test_removed_roaster_becomes_inactive_never_deleted(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    run_cli("--config", str(path), "init")
    text = path.read_text()
    import yaml

    doc = yaml.safe_load(text)
    doc["roasters"] = [r for r in doc["roasters"] if r["id"] != "dune-coffee"]
    path.write_text(yaml.safe_dump(doc))
    result = run_cli("--config", str(path), "init", "--json")
    assert json.loads(result.stdout)["roasters"]["deactivated"] == 1
    assert dict(db.execute("select id, active from raw.roasters").fetchall()) == {
        "aurora-beans": True, "blue-peak": True, "cedar-roast": True, "dune-coffee": False}


def test_raw_store_is_append_only(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    run_cli("--config", str(path), "fetch", "--roaster", "blue-peak")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("update raw.scrape_artifacts set body_text = 'x'")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("delete from raw.scrape_artifacts")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("delete from raw.scrape_runs")
    # a body is never changed nor removed, not even by the quarantine move
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("update raw.bodies set body_text = 'x'")
    db.execute("set coffee.quarantine_move = 'on'")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("delete from raw.bodies")
    assert db.execute("select count(*) from raw.scrape_artifacts").fetchone()[0] > 0


def test_redact_hides_passwords():
    assert redact("postgresql://u:s3cret@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact("postgresql://postgres:@/coffee?host=/tmp/x") == "postgresql://postgres:@/coffee?host=/tmp/x"


def test_env_exports_without_password_on_stdout(tmp_path, monkeypatch):
    monkeypatch.setenv("COFFEE_HOME", str(tmp_path))
    lines = env_exports(Target("postgresql://alice:s3cret@db.example:6543/coffee_scraper", False), Path("/p"))
    text = "\n".join(lines)
    assert "s3cret" not in text
    assert "export PGHOST=db.example" in text and "export PGPORT=6543" in text
    assert "export PGUSER=alice" in text and "export DBT_PROFILES_DIR=/p" in text
    assert "unset COFFEE_DBT_RANGE" in lines  # a pasted runner command never narrows a later build
    pgpass = tmp_path / "pgpass"
    assert pgpass.read_text().strip() == "db.example:6543:coffee_scraper:alice:s3cret"
    assert pgpass.stat().st_mode & 0o777 == 0o600


def test_env_then_psql_reaches_the_same_database(db_url, db, tmp_path, sim):
    path, _ = sim_config(sim, tmp_path)
    run_cli("--config", str(path), "init")
    exports = run_cli("env").stdout
    script = exports + '\npsql -X -A -t -c "select count(*) from raw.roasters"\n'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"


def test_unreachable_database_is_one_line_exit_1(monkeypatch, tmp_path, sim):
    path, _ = sim_config(sim, tmp_path)
    monkeypatch.setenv("COFFEE_DATABASE_URL", "postgresql://nobody:pw@127.0.0.1:1/nowhere")
    result = run_cli("--config", str(path), "init")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "cannot connect" in result.stderr
    assert "pw@" not in result.stderr and "Traceback" not in result.output
