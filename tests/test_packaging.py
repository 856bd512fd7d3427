"""The wheel carries its templates (the dashboard's too), Lua scripts and compiled message
catalogs: build it, install it in a fresh venv (outside the checkout) and render a page in
Portuguese from the installed copy."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RENDER = """
import joingate, sys
from datetime import datetime, timezone
from joingate.roster import RegistrantInput
assert "site-packages" in joingate.__file__ and "{root}" not in joingate.__file__, joingate.__file__
app = joingate.create_app({{"SECRET_KEY": "k" * 32, "REDIS_URL": "memory://"}}, environ={{}})
service = app.extensions["joingate"]
service.meetings.add("85746065432", topic="Wheel class", start=datetime.now(timezone.utc),
                    duration=60)
link = service.meetings.issue_links("85746065432", [RegistrantInput("a@example.org", "Ana")])[0]
page = app.test_client().get(link.url.split("8000", 1)[1], headers={{"Accept-Language": "pt"}})
print(page.status_code, app.template_folder)
sys.stdout.write(page.get_data(as_text=True))
"""


def test_installed_wheel_renders_a_page(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, timeout=300)
    wheel = next(wheels.glob("joingate-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"joingate/_templates/organizer/{page.name}"
            for page in (ROOT / "templates" / "organizer").glob("*.html")} <= set(names)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig;print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Dependencies come from this interpreter's site-packages, appended after the venv's own,
    # through a plain path line (so the checkout's editable-install hooks do not run there).
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", purelib,
                    str(wheel)], check=True, timeout=300)
    result = subprocess.run([str(python), "-c", RENDER.format(root=ROOT)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    first, _, body = result.stdout.partition("\n")
    assert first.startswith("200 ") and "joingate/_templates" in first
    assert "Wheel class" in body and '<form method="post"' in body
    assert '<html lang="pt">' in body and "Entrar agora" in body    # the .mo is in the wheel
