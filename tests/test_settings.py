"""Configuration from the environment: production needs a real secret; development makes one once."""
import pytest

from webapp import config


def test_development_creates_a_secret_key_once(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    second = config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})["SECRET_KEY"]
    assert first == second and len(first) > 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_without_a_secret_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("AUDIT_KEY", "a")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        config.load({"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path)})


def test_the_audit_key_is_never_in_the_database_and_production_needs_one(tmp_path, monkeypatch):
    monkeypatch.delenv("AUDIT_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY", "s")
    with pytest.raises(RuntimeError, match="AUDIT_KEY"):
        config.load({"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path)})
    key = config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})["AUDIT_KEY"]
    assert len(key) > 40 and (tmp_path / "audit_key").read_text().strip() == key
    assert config.load({"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path)})["AUDIT_KEY"] == key


def test_production_refuses_demo_data_unless_enabled(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s")
    monkeypatch.setenv("AUDIT_KEY", "a")
    assert config.load({"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path)})["DEMO_DATA_ENABLED"] is False
    monkeypatch.setenv("DEMO_DATA_ENABLED", "1")
    assert config.load({"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path)})["DEMO_DATA_ENABLED"] is True


def test_database_url_defaults_to_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = config.load({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'qianyue.db'}"
