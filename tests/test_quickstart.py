"""The README's quick start, command 1, as a newcomer runs it: in a clean copy of the committed
repository, with Debian's own Python (PEP 668: no `pip install` outside a venv), until a demo
link is claimed. pip fetches from the configured index (PyPI in CI) through its cache."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from stack import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")
SET_UP_SECONDS = 180        # a fresh venv and pip install; about 15 s from a warm pip cache


def quick_start_command(readme: str) -> str:
    """The shell line under "# 1." in the README's quick start block."""
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("# 1."))
    return next(line for line in lines[first + 1:] if line.strip() and not line.startswith("#"))


def committed_copy(destination: Path) -> None:
    """The files of HEAD, as a fresh clone has them (no .venv, nothing uncommitted)."""
    archive, repo = destination / "head.tar", destination / "repo"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive),
                    "HEAD"], check=True, capture_output=True, timeout=60)
    repo.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(repo)], check=True, timeout=60)
    archive.unlink()


def newcomer_env() -> dict[str, str]:
    """The environment of a shell on a fresh Debian: `python3` is /usr/bin/python3 (no pyenv,
    no active venv) and no JOINGATE_ setting; pip's own settings (cache, index) are kept."""
    drop = ("JOINGATE_", "VIRTUAL_ENV", "PYTHON", "PYENV")
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    return env


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """Every output line of ``process`` on a queue (``None`` at the end), read by a thread so
    that a silent process cannot block the test past its deadline."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_readme_quick_start_serves_a_claimable_demo_link_on_debian_python(tmp_path):
    if not DEBIAN_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/python3 is missing: CI runs on Debian")
        pytest.skip("/usr/bin/python3 (Debian's Python) is missing on this machine")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the test copies the committed files (git archive)")
    committed_copy(tmp_path)
    repo = tmp_path / "repo"
    command = quick_start_command((repo / "README.md").read_text(encoding="utf-8"))
    assert "joingate serve --demo" in command, command
    port = free_port()
    # The README's command as it stands; only the port is chosen, so as not to collide.
    process = subprocess.Popen(["bash", "-c", f"{command} --port {port}"], cwd=repo,
                               env=newcomer_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output: list[str] = []
    try:
        lines, links = lines_of(process), []
        deadline = time.monotonic() + SET_UP_SECONDS
        while len(links) < 2 and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            output.append(line)
            links += re.findall(rf"http://127\.0\.0\.1:{port}/j/\S+", line)
        assert len(links) == 2, "".join(output)
        venv_config = (repo / ".venv" / "pyvenv.cfg").read_text()
        assert "home = /usr/bin" in venv_config, venv_config
        wait_for_port(port)
        with requests.Session() as browser:
            page = browser.get(links[0], timeout=10)
            assert page.status_code == 200 and '<form method="post"' in page.text
            claim = browser.post(links[0], data={"claim": "1"}, allow_redirects=False,
                                 timeout=10)
        assert claim.status_code == 303, claim.text
        assert claim.headers["Location"].startswith("https://app.zoom.us/wc/")
    finally:
        # The shell and the server it started share the session begun for them: stop that
        # group, by the shell's PID.
        for signum in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                break
            try:
                process.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue
