"""The application secret: configured, or generated once and shared by every process."""

from __future__ import annotations

import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from commandcentre.secrets import SECRET_FILE, secret_key
from commandcentre.settings import Settings


def _settings(data_dir: Path, key: str = "") -> Settings:
    return Settings(data_dir=data_dir, secret_key=key, _env_file=None)


def test_configured_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert secret_key(_settings(tmp_path / "var", "from-env")) == "from-env"
    assert not (tmp_path / "var").exists()


def test_generated_once_private_and_stable(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "var")
    first = secret_key(settings)
    path = tmp_path / "var" / SECRET_FILE
    assert len(first) >= 43  # 32 bytes, URL-safe base64
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(settings) == first
    # No temporary files are left behind.
    assert [p.name for p in path.parent.iterdir()] == [SECRET_FILE]


def test_existing_file_is_read(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("kept-key\n", encoding="ascii")
    assert secret_key(_settings(tmp_path)) == "kept-key"


def _generate(data_dir: str) -> str:
    return secret_key(_settings(Path(data_dir)))


def test_concurrent_processes_agree_on_one_key(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "race")
    with ProcessPoolExecutor(max_workers=6) as pool:
        keys = list(pool.map(_generate, [data_dir] * 12))
    assert len(set(keys)) == 1
    assert (Path(data_dir) / SECRET_FILE).read_text(encoding="ascii") == keys[0]
