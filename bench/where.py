"""Where a request's time goes under gunicorn, by part, for claims and confirm pages of fresh
links and for the bare Flask floor:

    pip install py-spy          # a sampling profiler (not a joingate dependency)
    python3 bench/where.py [--seconds 8]

Starts a real redis-server (appendonly, appendfsync everysec), joingate and the floor
(bench/floor_app.py) under the shipped gunicorn.conf.py, drives each with wrk (64 connections,
links never used before, as bench/run.py does) while ``py-spy record --subprocesses`` samples
gunicorn's workers, and prints the share of the workers' samples in each part. py-spy leaves
out a thread blocked in a system call (waiting for a connection or for Redis's reply), so the
shares are of the time a worker runs or waits for a core.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from run import ADMIN_TOKEN, MEETING, SECRET, ensure_wrk, wrk  # noqa: E402
from stack import RedisServer, start_gunicorn, stop, wait_for_port  # noqa: E402

# A sample belongs to the first part whose marker is in its stack, leaf first: the order
# matters where parts nest (a log line inside the gate is the log line's).
PARTS = (
    ("the request log line", ("log_request", "logging/__init__", "observability.py:format")),
    ("metrics (prometheus_client)", ("prometheus_client",)),
    ("the Redis round trip (send, read, parse the reply)", ("redis/", "hiredis", "_hot_script",
                                                           "store.py")),
    ("the link token (verify)", ("read_link_token", "signing.py:loads")),
    ("the redirect: device cookie, its header, Location", ("_redirect", "device_cookie",
                                                           "as_uri", "redirect_url")),
    ("the page (skeleton filled, or rendered)", ("pages.py", "jinja2", "markupsafe")),
    ("joingate's front and gate (the rest)", ("joingate/",)),
    ("Flask and Werkzeug (the floor's app)", ("flask/", "werkzeug/", "floor_app")),
    ("gunicorn: accept, parse, write, close", ("gunicorn/",)),
)


def part_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):              # leaf first
        for name, markers in PARTS:
            if any(marker in frame for marker in markers):
                return name
    return "other (interpreter, imports)"


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("bench/where.py needs py-spy: pip install py-spy")
    return subprocess.Popen([spy, "record", "--subprocesses", "--nonblocking", "-r", "200",
                             "-d", str(seconds), "-f", "raw", "-o", str(out), "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shares(raw: Path) -> dict[str, float]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit() and "gunicorn/arbiter.py" not in stack.split(";")[-1]:
            counts[part_of(stack)] += int(count)
    total = sum(counts.values()) or 1
    return {name: counts[name] / total for name in [*dict(PARTS), "other (interpreter, imports)"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    wrk_binary = ensure_wrk()
    folder = Path(tempfile.mkdtemp(prefix="joingate-where-"))
    redis_server = RedisServer(folder, extra=("--appendonly", "yes", "--appendfsync", "everysec"))
    redis_server.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env.update(JOINGATE_SECRET_KEY=SECRET, JOINGATE_REDIS_URL=redis_server.url,
               JOINGATE_ADMIN_TOKEN=ADMIN_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(folder / "m"))
    processes = []
    try:
        gate, gate_port = start_gunicorn(env, workers=None, log=folder / "gate.log")
        floor, floor_port = start_gunicorn({**env, "PROMETHEUS_MULTIPROC_DIR": str(folder / "f")},
                                           workers=None, app="bench.floor_app:app")
        processes += [gate, floor]
        wait_for_port(gate_port, 30)
        gate_url = f"http://127.0.0.1:{gate_port}"
        cli = [sys.executable, "-m", "joingate.cli"]
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
        subprocess.run([*cli, "meeting", "add", MEETING, "--topic", "Bench", "--start", start,
                        "--duration", "120"], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        people = folder / "people.csv"
        people.write_text("email,first_name,last_name\n" + "".join(
            f"w{n}@example.org,Person,W {n}\n" for n in range(60_000)))
        output = subprocess.run([*cli, "links", "issue", MEETING, str(people),
                                 "--allow-loopback"], env={**env, "JOINGATE_PUBLIC_URL": gate_url},
                                check=True, cwd=ROOT, capture_output=True, text=True).stdout
        links = [row["link"].removeprefix(gate_url)
                 for row in csv.DictReader(io.StringIO(output))]
        script = ROOT / "bench" / "paths.lua"
        table = {}
        for name, url, method, paths, pid in (
                ("floor (POST 302)", f"http://127.0.0.1:{floor_port}", "POST", ["/r"] * 1000,
                 floor.pid),
                ("claim", gate_url, "POST", links[:30_000], gate.pid),
                ("confirm page", gate_url, "GET", links[30_000:], gate.pid)):
            (folder / "paths").write_text("\n".join(paths) + "\n")
            subprocess.run([wrk_binary, "-t2", "-c64", "-d2s", url + paths[-1]],
                           capture_output=True, timeout=60)                   # warm up
            raw = folder / f"{name.split()[0]}.raw"
            spy = profile(pid, args.seconds, raw)
            time.sleep(0.5)
            result = wrk(wrk_binary, url, args.seconds, 64, script=script, name=name,
                         env={"PATHS_FILE": str(folder / "paths"), "METHOD": method})
            spy.wait(60)
            table[name] = (result, shares(raw))
        print(f"\nWhere a worker's samples go (py-spy, {args.seconds} s each, 64 connections, "
              f"Redis appendfsync everysec)\n")
        names = list(table)
        print(f"{'part':<54}" + "".join(f"{name:>18}" for name in names))
        for part in [*dict(PARTS), "other (interpreter, imports)"]:
            print(f"{part:<54}" + "".join(f"{table[name][1][part]:>17.1%} " for name in names))
        print(f"{'requests/s in the run':<54}" + "".join(f"{table[name][0].rps:>18.0f}"
                                                          for name in names))
    finally:
        for process in processes:
            stop(process)
        redis_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
