"""Scenarios 1–3 of spec/bonsai.md §7 with the real CLIs (0.8.28, and 0.8.20 with its shim)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.compat.bonsai.conftest import BonsaiServer, project_dir, run, sim_rewards, wait_for

pytestmark = [pytest.mark.compat, pytest.mark.slow]


def fresh_home(tmp_path: Path, name: str = "cli-home") -> Path:
    home = tmp_path / name
    home.mkdir()
    return home


def test_scenario_1_cli_lifecycle(tmp_path: Path, bonsai_server: BonsaiServer, sdk2020: Path) -> None:
    bonsai = str(sdk2020 / "bonsai")
    home = fresh_home(tmp_path)
    project = project_dir(tmp_path, "find_the_center")

    def cli(*arguments: str, cwd: Path = project, check: bool = True) -> str:
        result = run([bonsai, *arguments], home=home, cwd=cwd, check=check, timeout=300)
        return result.stdout + result.stderr

    assert "Success!" in cli("switch", "local", "--url", bonsai_server.url)
    wrong = run(
        [bonsai, "configure", "--username", "alice", "--access_key", "not-the-key"],
        home=home,
        cwd=project,
        check=False,
    )
    assert wrong.returncode != 0 and "Unauthorized" in wrong.stdout + wrong.stderr
    assert "Success!" in cli("configure", "--username", "alice", "--access_key", bonsai_server.key)

    cli("create", "b1")
    assert re.search(r"b1\*?\s+Not Started", cli("list"))
    assert "Push succeeded. b1 updated with 4 files." in cli("push")
    cli("train", "start")
    status = json.loads(cli("train", "status", "--json"))
    assert status["state"] in ("Starting", "In Progress") and status["version"] == 1
    assert "find_the_center_sim" in cli("sims", "list")
    refused = run([bonsai, "push"], home=home, cwd=project, check=False)
    assert refused.returncode != 0 and "Can't push while training" in refused.stdout + refused.stderr
    cli("train", "stop")
    assert json.loads(cli("train", "status", "--json"))["state"] == "Stopped"
    cli("train", "resume")
    wait_for(lambda: json.loads(cli("train", "status", "--json"))["state"] == "In Progress", timeout=180)
    assert json.loads(cli("train", "status", "--json"))["version"] == 1
    cli("train", "stop")

    empty = tmp_path / "download"
    empty.mkdir()
    cli("download", "b1", cwd=empty)
    downloaded = empty / "b1"
    names = sorted(path.name for path in downloaded.iterdir() if not path.name.startswith("."))
    assert names == sorted(path.name for path in project.iterdir() if not path.name.startswith("."))
    for path in project.iterdir():
        if path.name.startswith("."):
            continue
        if path.suffix == ".bproj":
            assert json.loads((downloaded / path.name).read_text()) == json.loads(path.read_text())
        else:
            assert (downloaded / path.name).read_bytes() == path.read_bytes()

    cli("delete", "b1")
    assert "b1" not in cli("list")


def test_scenario_2_cli_0_8_20_subset(
    tmp_path: Path, bonsai_server: BonsaiServer, cli020: Path, sdk2020: Path, home: Path
) -> None:
    bonsai = str(cli020 / "bonsai")
    cli_home = fresh_home(tmp_path)
    project = project_dir(tmp_path, "find_the_center")

    def cli(*arguments: str) -> str:
        result = run([bonsai, *arguments], home=cli_home, cwd=project, timeout=300)
        return result.stdout + result.stderr

    cli("switch", "local", "--url", bonsai_server.url)
    assert "Success! Your username is alice" in cli(
        "configure", "--key", bonsai_server.key
    )  # raw-key validate
    cli("create", "b2")
    assert "b2" in cli("list")
    cli("push")
    cli("train", "start")
    wait_for(lambda: bonsai_server.status("b2")["state"] == "In Progress", timeout=180)
    sim = run(
        [str(sdk2020 / "python"), "find_the_center_sim.py", "--brain", "b2", "--episodes", "5"],
        home=home,
        cwd=project,
    )
    assert len(sim_rewards(sim)["rewards"]) == 5
    output = cli("log")
    assert "Simulator logs for b2" in output
    assert re.search(r"\d+ connected", output) and "episode 1 value" in output
    cli("train", "stop")
    assert bonsai_server.status("b2")["state"] == "Stopped"


def test_scenario_3_compile_errors(tmp_path: Path, bonsai_server: BonsaiServer, sdk2020: Path) -> None:
    bonsai = str(sdk2020 / "bonsai")
    home = fresh_home(tmp_path)
    project = project_dir(tmp_path, "find_the_center")
    ink = project / "find_the_center.ink"
    lines = ink.read_text().splitlines()
    broken = [
        "schema Extra",
        "    Int8 a",
        "end",
        "",
        "schema Broken",
        "    Int8 b,",
        "    Int9 value",
        "end",
        "",
    ]
    ink.write_text("\n".join(broken + lines) + "\n")
    assert ink.read_text().splitlines()[6] == "    Int9 value"
    run([bonsai, "switch", "local", "--url", bonsai_server.url], home=home, cwd=project)
    run(
        [bonsai, "configure", "--username", "alice", "--access_key", bonsai_server.key],
        home=home,
        cwd=project,
    )
    run([bonsai, "create", "b3"], home=home, cwd=project)
    pushed = run([bonsai, "push"], home=home, cwd=project)
    assert "E301 unknown type 'Int9' (line 7, column 5)" in pushed.stdout
    start = run([bonsai, "train", "start"], home=home, cwd=project, check=False)
    assert start.returncode != 0
    assert "Inkling has 1 error(s)" in start.stdout + start.stderr
