"""The command line in the exact forms scripts and docs rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from crucible.cli import main
from tests.conftest import free_port


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().out


def test_db_upgrade_user_create_and_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert run_cli(["db", "upgrade", *data], capsys) == (0, "database is up to date\n")
    code, out = run_cli(
        [
            "user",
            "create",
            "--username",
            "una",
            "--email",
            "una@example.org",
            "--password",
            "pw-123456",
            *data,
        ],
        capsys,
    )
    assert code == 0 and json.loads(out)["username"] == "una"
    code, out = run_cli(["user", "token", "--username", "una", *data], capsys)
    credentials = json.loads(out)
    assert code == 0 and set(credentials) == {"api_token", "access_key"}
    assert len(credentials["api_token"]) == 40 and len(credentials["access_key"]) == 36
    code, out = run_cli(["accesskey", "create", "una", *data], capsys)
    assert code == 0 and len(out.strip()) == 36
    assert (tmp_path / "crucible.db").exists()


def test_user_create_reports_duplicates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["user", "create", "--username", "vic", "--email", "v@example.org", "--password", "pw-123456"]
    assert main([*args, "--data-dir", str(tmp_path)]) == 0
    assert main([*args, "--data-dir", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_serve_migrates_prints_url_and_first_admin(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CRUCIBLE_PORT": str(port), "CRUCIBLE_DATA_DIR": str(tmp_path / "data")}
    env.pop("CRUCIBLE_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "crucible.cli", "serve"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first_line
        admin_line = process.stdout.readline()
        assert "First admin: username 'admin', password '" in admin_line
        password = admin_line.split("password '")[1].split("'")[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
        login = httpx.post(
            f"http://127.0.0.1:{port}/login/", json={"username": "admin", "password": password}
        )
        assert login.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
