"""docs/deploy.md's systemd unit is one systemd accepts (systemd-analyze verify, where installed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def unit_text() -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    return text.split("### Running it under systemd", 1)[1].split("```ini\n", 1)[1].split("```", 1)[0]


def test_the_unit_has_what_the_issue_asks():
    unit = unit_text()
    for line in ("User=scimsvc", "ProtectSystem=strict", "ReadWritePaths=/srv/scimsvc/instance",
                 "Restart=on-failure", "ExecStartPre=/opt/scimsvc/venv/bin/scimsvc db upgrade"):
        assert line in unit.splitlines(), line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # The paths the unit names must exist for verify; point them at stand-ins in tmp_path.
    venv_bin = tmp_path / "opt" / "scimsvc" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "scimsvc"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    (tmp_path / "srv" / "scimsvc" / "instance").mkdir(parents=True)
    unit = unit_text().replace("/opt/scimsvc", str(tmp_path / "opt" / "scimsvc")) \
        .replace("/srv/scimsvc", str(tmp_path / "srv" / "scimsvc"))
    path = tmp_path / "scimsvc.service"
    path.write_text(unit)
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True,
                          timeout=60)
    # Complaints about this unit name it; the host's other units (or a missing user) are not ours.
    ours = [line for line in (done.stderr + done.stdout).splitlines()
            if "scimsvc.service" in line and "Failed to resolve user" not in line
            and "No such process" not in line]
    assert ours == [], "\n".join(ours)
