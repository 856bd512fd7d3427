"""This checkout against another one, side by side under gunicorn on one Redis:

    git worktree add --detach /tmp/before 791b0cc        # the code to compare with
    python3 bench/versus.py /tmp/before [--rounds 3] [--seconds 4]

Starts a real redis-server (appendonly, appendfsync everysec), the bare Flask floor, and
joingate twice under the shipped gunicorn.conf.py: from this checkout and from the other one
(its own code, the same secret and Redis). Then, round after round, the floor, claims of fresh
links through each, and confirm pages of fresh links through each (the other first for the
pages, this one first for the claims), wrk with 64 connections: the two see the same machine
and the same Redis, which one run of bench/run.py per commit does not give (a row moves by
about 10 % between runs). Prints req/s, p99 and CPU per request (gunicorn's workers and Redis).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import stack  # noqa: E402
from run import MEETING, SECRET, ensure_wrk, wrk  # noqa: E402
from stack import RedisServer, start_gunicorn, stop  # noqa: E402

LINKS_PER_ROW = 9000


def start_from(checkout: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """joingate under gunicorn from ``checkout`` (its wsgi.py and joingate package)."""
    stack.ROOT = checkout
    try:
        return start_gunicorn(env, workers=None, log=log)
    finally:
        stack.ROOT = ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="another checkout of joingate")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    if not (args.other / "wsgi.py").is_file():
        sys.exit(f"{args.other} is not a checkout of joingate (no wsgi.py)")
    wrk_binary = ensure_wrk()
    folder = Path(tempfile.mkdtemp(prefix="joingate-versus-"))
    redis_server = RedisServer(folder, extra=("--appendonly", "yes", "--appendfsync", "everysec"))
    redis_server.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env.update(JOINGATE_SECRET_KEY=SECRET, JOINGATE_REDIS_URL=redis_server.url)
    processes = []
    try:
        servers = {}
        for name, checkout in (("this", ROOT), ("other", args.other)):
            metrics = folder / f"metrics-{name}"
            servers[name] = start_from(checkout, {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                                       folder / f"{name}.log")
            processes.append(servers[name][0])
        floor, floor_port = start_gunicorn({**env, "PROMETHEUS_MULTIPROC_DIR": str(folder / "f")},
                                           workers=None, app="bench.floor_app:app")
        processes.append(floor)
        cli = [sys.executable, "-m", "joingate.cli"]
        cli_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics-this"),
                   "JOINGATE_PUBLIC_URL": "http://127.0.0.1:8000"}
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
        subprocess.run([*cli, "meeting", "add", MEETING, "--topic", "Versus", "--start", start,
                        "--duration", "120"], env=cli_env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        rows = 4 * args.rounds
        links: list[str] = []
        for batch in range(0, rows * LINKS_PER_ROW, 90_000):
            people = folder / "people.csv"
            people.write_text("email,first_name,last_name\n" + "".join(
                f"v{n}@example.org,Person,V {n}\n"
                for n in range(batch, min(batch + 90_000, rows * LINKS_PER_ROW))))
            issued = subprocess.run([*cli, "links", "issue", MEETING, str(people),
                                     "--allow-loopback"], env=cli_env, check=True, cwd=ROOT,
                                    capture_output=True, text=True).stdout
            links += [row["link"].removeprefix("http://127.0.0.1:8000")
                      for row in csv.DictReader(io.StringIO(issued))]
        fresh = iter(range(0, len(links), LINKS_PER_ROW))
        script = ROOT / "bench" / "paths.lua"
        for port in (servers["this"][1], servers["other"][1]):       # warm up
            subprocess.run([wrk_binary, "-t2", "-c64", "-d2s",
                            f"http://127.0.0.1:{port}{links[-1]}"], capture_output=True)
        redis_pid = redis_server.process.pid
        print(f"\nthis checkout ({ROOT}) against {args.other}: {args.seconds} s per row, "
              f"64 connections, gunicorn sync, Redis appendfsync everysec\n")
        print(f"{'round':<6}{'row':<22}{'req/s':>8}{'p99 ms':>8}{'CPU us/req':>12}{'errors':>8}")
        for round_ in range(args.rounds):
            order = [("floor, POST 302", floor_port, floor.pid, "POST")]
            for mode, method, who in (("claim", "POST", ("this", "other")),
                                      ("confirm page", "GET", ("other", "this"))):
                order += [(f"{name}: {mode}", servers[name][1], servers[name][0].pid, method)
                          for name in who]
            for row, port, pid, method in order:
                if row.startswith("floor"):
                    paths = ["/r"] * 1000
                else:
                    first = next(fresh)
                    paths = links[first:first + LINKS_PER_ROW]
                (folder / "paths").write_text("\n".join(paths) + "\n")
                result = wrk(wrk_binary, f"http://127.0.0.1:{port}", args.seconds, 64,
                             script=script, name=row,
                             cpu_pids=[pid] if row.startswith("floor") else [pid, redis_pid],
                             env={"PATHS_FILE": str(folder / "paths"), "METHOD": method})
                print(f"{round_ + 1:<6}{row:<22}{result.rps:>8.0f}{result.p99_ms:>8.1f}"
                      f"{result.cpu_us or 0:>12.0f}{result.errors:>8}", flush=True)
    finally:
        for process in processes:
            stop(process)
        redis_server.stop()


if __name__ == "__main__":
    main()
