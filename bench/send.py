"""Sending the links: messages per second to a local SMTP server, and the sender's memory.

    python3 bench/send.py [--count 5000] [--small 1000]

Starts a real redis-server and an SMTP server (aiosmtpd, tests/smtp_sink.py: it counts what it
accepts and keeps nothing) on loopback, issues ``--count`` registrants, then runs the command an
organizer runs, ``joingate links send MEETING_ID``, as its own process with
``JOINGATE_SMTP_RATE=0`` (no pacing). Reports:

- wall time of the command (start-up included) and messages per second over it;
- the steady rate: messages per second between 10 % and 90 % of the messages received;
- the sender's resident memory (VmRSS from /proc/<pid>/status) when 10 %, 50 % and 90 % of the
  messages had arrived, and its peak: VmHWM, the kernel's high-water mark of the process's
  address space, read every 20 ms (the last reading before the process exits; only its final
  20 ms can escape it). Not ru_maxrss from wait4(2): Linux folds into it the RSS of the address
  space the child had before exec, a copy of this (larger) benchmark process.

Then the same for ``--small`` registrants: the peak should not grow with the meeting (registrants
are read 500 at a time, each message is built, sent and dropped).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import redis as redis_lib  # noqa: E402
from smtp_sink import Mailbox, SmtpSink  # noqa: E402
from stack import RedisServer  # noqa: E402

MEETING = "85746065432"
SECRET = "bench-secret-key"


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a running process, in KiB; (0, 0) once it is gone."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def prepare(redis_url: str, count: int) -> None:
    from joingate import create_app
    from joingate.roster import RegistrantInput

    redis_lib.Redis.from_url(redis_url).flushdb()
    app = create_app({"SECRET_KEY": SECRET, "REDIS_URL": redis_url,
                      "PUBLIC_URL": "https://gate.example.org"}, environ={})
    meetings = app.extensions["joingate"].meetings
    meetings.add(MEETING, topic="Evening ceramics, week 3",
                 start=datetime.now(UTC) + timedelta(days=1), duration=90,
                 pwd="benchpwd", support="help@example.org")
    meetings.issue_links(MEETING, [RegistrantInput(f"person{n:05d}@example.org",
                                                   f"Person Ñúñez {n}") for n in range(count)])


def measure(redis_url: str, count: int) -> dict[str, float]:
    prepare(redis_url, count)
    box = Mailbox(keep=False)
    with SmtpSink(box) as sink:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("JOINGATE_")}
        env.update(JOINGATE_SECRET_KEY=SECRET, JOINGATE_REDIS_URL=redis_url,
                   JOINGATE_PUBLIC_URL="https://gate.example.org", JOINGATE_SMTP_URL=sink.url,
                   JOINGATE_MAIL_FROM="Evening Ceramics <classes@example.org>",
                   JOINGATE_SMTP_RATE="0")
        started = time.monotonic()
        sender = subprocess.Popen(
            [sys.executable, "-c", "from joingate.cli import main; main()", "links", "send",
             MEETING], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        marks: dict[float, float | None] = {0.1: None, 0.5: None, 0.9: None}
        rss: dict[float, int] = {}
        peak = 0
        while sender.poll() is None:
            sampled, high_water = memory_kib(sender.pid)
            peak = max(peak, high_water)
            for share in marks:
                if marks[share] is None and box.count >= share * count:
                    marks[share] = time.monotonic()
                    rss[share] = sampled
            time.sleep(0.02)
        wall = time.monotonic() - started
        if sender.returncode != 0:
            raise SystemExit(f"links send failed ({sender.returncode}): "
                             f"{sender.stderr.read().decode()[-2000:]}")
    steady = (0.8 * count) / (marks[0.9] - marks[0.1]) if marks[0.9] and marks[0.1] else 0.0
    return {"count": count, "received": box.count, "wall": wall, "rate": count / wall,
            "steady": steady, "rss10": rss.get(0.1, 0), "rss50": rss.get(0.5, 0),
            "rss90": rss.get(0.9, 0), "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder))
        server.start()
        try:
            results = [measure(server.url, args.small), measure(server.url, args.count)]
        finally:
            server.stop()
    print("registrants  received  wall s  msg/s (wall)  msg/s (10-90 %)  "
          "RSS MiB at 10/50/90 %   peak RSS MiB")
    for r in results:
        print(f"{r['count']:>11}  {r['received']:>8}  {r['wall']:>6.1f}  {r['rate']:>12.0f}  "
              f"{r['steady']:>15.0f}  {r['rss10'] / 1024:>5.1f} {r['rss50'] / 1024:>5.1f} "
              f"{r['rss90'] / 1024:>5.1f}      {r['peak'] / 1024:>6.1f}")


if __name__ == "__main__":
    main()
