from pathlib import Path

import pytest

from xerosync.settings import SANDBOX_URL, SettingsError, load_settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.DATABASE_URL.startswith("sqlite:///")
    assert settings.REDIS_URL == "redis://127.0.0.1:6379/0"
    assert settings.XERO_BASE_URL == SANDBOX_URL
    assert settings.uses_sandbox
    assert settings.xero_api_url == f"{SANDBOX_URL}/api.xro/2.0"


def test_empty_fallbacks_follow_their_source() -> None:
    settings = load_settings(
        {"REDIS_URL": "redis://cache:6380/2", "XERO_BASE_URL": "https://api.xero.com/"},
        env_file=None,
    )
    assert settings.CELERY_BROKER_URL == "redis://cache:6380/2"
    assert settings.XERO_IDENTITY_URL == "https://api.xero.com"
    assert not settings.uses_sandbox


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "localhost:6379"),
        ("SYNC_INTERVAL_SECONDS", "soon"),
        ("SYNC_INTERVAL_SECONDS", "0"),
        ("SANDBOX_PORT", "70000"),
        ("INVOICE_RESERVED_SHARE", "1.5"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^setting {name}="):
        load_settings({name: value}, env_file=None)


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SYNC_INTERVAL_SECONDS=120\nFLOWER_USER=ops\n")
    settings = load_settings({"FLOWER_USER": "root"}, env_file=env_file)
    assert settings.SYNC_INTERVAL_SECONDS == 120
    assert settings.FLOWER_USER == "root"


def test_env_example_lists_every_setting() -> None:
    example = Path(__file__).resolve().parent.parent / ".env.example"
    listed = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert listed == set(load_settings({}, env_file=None).as_dict())
