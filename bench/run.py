"""joingate's benchmarks, in one run, on loopback only, bounded in time.

    python3 bench/run.py [--seconds 10] [--connections 64]

Starts a real redis-server (the shipped settings: appendonly yes, appendfsync always), joingate
under the shipped gunicorn.conf.py, and two references under the same conditions: a bare Flask
app under the same gunicorn settings (the framework floor) and nginx answering ``return 302``
(the machine's limit). The load generator is wrk (Debian's package; installed if missing and
root): it is written in C, so it takes less of the 2 cores from the servers than a Python
generator would. Every claim and every open uses a link never used before (bench/paths.lua).

Prints, per scenario: requests per second, p50 and p99 latency, server CPU per request (utime +
stime of gunicorn's workers and redis-server, from /proc), errors, and the ratio to the floor
and to nginx (for the rows through nginx + TLS with a new connection each: to nginx answering
``return 302`` under the same TLS settings, the ceiling of that row). Then: 50,000 registrants
each opening and claiming their link through nginx + TLS, a new connection per request (total
seconds, errors, p99); 50,000 links issued from one CSV (seconds); Redis memory per registrant;
and the issue-15 targets. ``--appendfsync both`` runs everything once per policy.

Row 2f claims fresh links through a second joingate whose REDIS_URL is the same Redis's unix
socket (``unix://``), as on one host.

``--worker-class gthread [--threads 4]`` runs every gunicorn (joingate's and the floor's) with
that worker class instead of the shipped sync.

``--only replica-wait`` runs only the claims with a replica attached, with
JOINGATE_REDIS_WAIT_REPLICAS 0 and 1 (rows 2d, 2e; also part of the whole run).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


from stack import (  # noqa: E402
    RedisServer,
    free_port,
    nginx_binary,
    replica_of,
    start_gunicorn,
    stop,
    wait_for_port,
    write_nginx,
)

SECRET = "bench-secret-key-of-at-least-32-characters"
HOOK_SECRET = "bench-zoom-secret"
ADMIN_TOKEN = "bench-admin-token"
MEETING = "85746065432"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# nginx as a production host runs it: certbot's default key (ECDSA P-256; an RSA-2048 handshake
# costs the server about ten times the CPU) and Debian's worker_processes auto.
CERT_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")
NGINX_WORKERS = "auto"
CROWD = 50_000                 # registrants of scenario 7
CROWD_LIMIT_SECONDS = 120      # scenario 7 stops here if it has not finished (its target: 30 s)
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float | None = None
    floor: str = ""
    nginx_rps: float | None = None
    floor_rps: float | None = None


def ensure_wrk() -> str:
    binary = shutil.which("wrk")
    if binary:
        return binary
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                       stdout=subprocess.DEVNULL)
        return shutil.which("wrk") or sys.exit("wrk did not install")
    sys.exit("bench needs wrk: apt-get install wrk")


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids``, their live children (gunicorn's
    workers) and the children they already reaped (a worker recycled after max_requests)."""
    total = 0.0
    seen = set()
    queue = [(pid, True) for pid in pids]
    while queue:
        pid, root = queue.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime; cutime, cstime count reaped children (fields 14-17 of stat)
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            if root:
                total += (int(fields[13]) + int(fields[14])) / CLK_TCK
            for task in Path(f"/proc/{pid}/task").iterdir():
                queue += [(int(child), False) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def parse_ms(text: str) -> float:
    """wrk's latency figure (``812.00us``, ``12.31ms``, ``1.02s``, ``1.10m``) in ms."""
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(binary: str, url: str, seconds: int, connections: int, *, script: Path | None = None,
        env: dict[str, str] | None = None, headers: list[str] = (), threads: int = 2,
        cpu_pids: list[int] = (), name: str = "") -> Result:
    command = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
               "--timeout", "5s"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    before = process_cpu(list(cpu_pids))
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                          env={**os.environ, "THREADS": str(threads), **(env or {})})
    output = done.stdout
    if "Requests/sec" not in output:
        raise RuntimeError(f"wrk failed for {name}: {output[-800:]} {done.stderr[-800:]}")
    cpu = process_cpu(list(cpu_pids)) - before
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    try:
        p50 = parse_ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
        p99 = parse_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    except (AttributeError, ValueError) as exc:
        raise RuntimeError(f"wrk output for {name} not understood ({exc}):\n{output}") from None
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                          output):
        errors += sum(int(group) for group in match.groups())
    return Result(name, rps, p50, p99, requests, errors,
                  cpu_us=(cpu / requests * 1e6) if cpu_pids and requests else None)


def run(args: argparse.Namespace) -> list[Result]:
    wrk_binary = ensure_wrk()
    folder = Path(tempfile.mkdtemp(prefix="joingate-bench-"))
    socket_path = folder / "redis.sock"     # row 2f: the same Redis over a unix socket
    redis_server = RedisServer(folder, extra=("--appendonly", "yes",
                                              "--appendfsync", args.appendfsync,
                                              "--unixsocket", str(socket_path),
                                              "--unixsocketperm", "700"))
    redis_server.start()
    redis_pid = redis_server.process.pid
    env = {**server_env(args), "JOINGATE_REDIS_URL": redis_server.url}
    env.update(JOINGATE_SECRET_KEY=SECRET,
               JOINGATE_ZOOM_WEBHOOK_SECRET=HOOK_SECRET, JOINGATE_INVALID_TOKEN_LIMIT="0",
               JOINGATE_ADMIN_TOKEN=ADMIN_TOKEN,
               PROMETHEUS_MULTIPROC_DIR=str(folder / "metrics"))
    processes = []
    results: list[Result] = []
    try:
        gate, gate_port = start_gunicorn(env, workers=None, log=folder / "gate.log")
        processes.append(gate)
        floor, floor_port = start_gunicorn(
            {**env, "PROMETHEUS_MULTIPROC_DIR": str(folder / "floor-metrics")}, workers=None,
            app="bench.floor_app:app", log=folder / "floor.log")
        processes.append(floor)
        nginx, nginx_port = start_limit_nginx(folder, "limit")
        processes.append(nginx)
        for port in (gate_port, floor_port):
            wait_for_port(port, 30)
        gate_url = f"http://127.0.0.1:{gate_port}"
        env["JOINGATE_PUBLIC_URL"] = gate_url
        cpu = [gate.pid, redis_pid]
        floor_cpu = [floor.pid]
        seconds, conns = args.seconds, args.connections
        script = ROOT / "bench" / "paths.lua"

        # 5. Bulk issue first: its 50,000 links feed the claim scenario.
        print("issuing links ...", file=sys.stderr)
        cli = [sys.executable, "-m", "joingate.cli"]
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300))
        subprocess.run([*cli, "meeting", "add", MEETING, "--topic", "Bench", "--start", start,
                        "--duration", "120", "--passcode", "Q0x3"], env=env, check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        people = folder / "people.csv"

        def write_people(prefix: str, count: int) -> Path:
            path = folder / f"{prefix}.csv"
            with open(path, "w") as out:
                out.write("email,first_name,last_name\n")
                for n in range(count):
                    out.write(f"{prefix}{n}@example.org,Person,{prefix} {n}\n")
            return path

        def issue(path: Path) -> tuple[list[str], float]:
            began = time.perf_counter()
            output = subprocess.run([*cli, "links", "issue", MEETING, str(path),
                                     "--allow-loopback"], env=env,
                                    check=True, cwd=ROOT, capture_output=True, text=True).stdout
            elapsed = time.perf_counter() - began
            links = [row["link"].removeprefix(gate_url)
                     for row in csv.DictReader(io.StringIO(output))]
            return links, elapsed

        people = write_people("claim", 50_000)
        claim_links, bulk_seconds = issue(people)
        open_links, _ = issue(write_people("open", 60_000))
        burst_links, _ = issue(write_people("burst", 5_000))
        rejoin_links, _ = issue(write_people("rejoin", 2_000))
        crowd_links, _ = issue(write_people("crowd", CROWD))
        unix_links, _ = issue(write_people("unix", max(20_000, 2_500 * seconds)))

        def paths_file(name: str, paths: list[str]) -> Path:
            path = folder / f"{name}.paths"
            path.write_text("\n".join(paths) + "\n")
            return path

        def scenario(name: str, method: str, paths: list[str], **extra) -> Result:
            print(f"{name} ...", file=sys.stderr)
            result = wrk(wrk_binary, gate_url, seconds, extra.pop("connections", conns),
                         script=script, cpu_pids=cpu, name=name,
                         env={"PATHS_FILE": str(paths_file(name, paths)), "METHOD": method,
                              **extra.pop("env", {})}, **extra)
            return result

        def reference(name: str, url: str, method: str, pids: list[int], **extra) -> Result:
            print(f"{name} ...", file=sys.stderr)
            return wrk(wrk_binary, url, seconds, conns, script=script, cpu_pids=pids, name=name,
                       env={"PATHS_FILE": str(paths_file(name, [urlpath(url)] * 1000)),
                            "METHOD": method, **extra.pop("env", {})})

        def urlpath(url: str) -> str:
            return "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"

        # Warm up every worker of both apps (imports, connections, caches) before measuring.
        warm_links, _ = issue(write_people("warm", 3_000))
        for target in (f"http://127.0.0.1:{floor_port}/r", gate_url + warm_links[0]):
            subprocess.run([wrk_binary, "-t2", f"-c{conns}", "-d3s", target],
                           capture_output=True, timeout=60)
        floor_get = reference("floor: bare Flask 302 (GET)", f"http://127.0.0.1:{floor_port}/r",
                              "GET", floor_cpu)
        floor_post = reference("floor: bare Flask 302 (POST)",
                               f"http://127.0.0.1:{floor_port}/r", "POST", floor_cpu)
        limit = reference("limit: nginx return 302", f"http://127.0.0.1:{nginx_port}/", "GET",
                          [nginx.pid])

        # The window opens 15 minutes before the start (in 5 minutes): open now.
        confirm = scenario("1. confirm page (GET, fresh links)", "GET", open_links)
        confirm.floor_rps, confirm.nginx_rps = floor_get.rps, limit.rps
        claim = scenario("2. claim (POST, fresh links)", "POST", claim_links)
        claim.floor_rps, claim.nginx_rps = floor_post.rps, limit.rps

        # Rejoin: one device bound to 2,000 links, then POSTs again from it.
        import requests

        session = requests.Session()
        for path in rejoin_links:
            session.post(gate_url + path, allow_redirects=False)
        cookie = "jg_device=" + session.cookies.get("jg_device")
        rejoin = scenario("2b. rejoin (POST, bound device)", "POST", rejoin_links,
                          env={"COOKIE": cookie})
        rejoin.floor_rps, rejoin.nginx_rps = floor_post.rps, limit.rps

        # 2f. The claims again with Redis over a unix socket (one host: no TCP on either side).
        unix_gate, unix_port = start_gunicorn(
            {**env, "JOINGATE_REDIS_URL": f"unix://{socket_path}",
             "PROMETHEUS_MULTIPROC_DIR": str(folder / "unix-metrics")}, workers=None,
            log=folder / "unix-gate.log")
        try:
            subprocess.run([wrk_binary, "-t2", f"-c{conns}", "-d3s",
                            f"http://127.0.0.1:{unix_port}{warm_links[1]}"],
                           capture_output=True, timeout=60)
            print("2f. claim, Redis over a unix socket ...", file=sys.stderr)
            unix_claim = wrk(wrk_binary, f"http://127.0.0.1:{unix_port}", seconds, conns,
                             script=script, cpu_pids=[unix_gate.pid, redis_pid],
                             name="2f. claim, Redis over a unix socket",
                             env={"PATHS_FILE": str(paths_file("unix", unix_links)),
                                  "METHOD": "POST"})
        finally:
            stop(unix_gate)
        unix_claim.floor_rps, unix_claim.nginx_rps = floor_post.rps, limit.rps

        # 3. Start burst: 5,000 claims paced over 10 s (50 connections, 100 ms apart, quota).
        burst = scenario("3. start burst (5,000 claims in 10 s)", "POST", burst_links,
                         connections=50, env={"PACE_MS": "100", "QUOTA": "2500"})

        # 4. Webhook ingest: signed participant_joined/left, each a new delivery.
        from joingate.zoom.events import zoom_signature

        bodies = []
        timestamp = str(int(time.time()))
        for n in range(40_000):
            kind = "joined" if n % 2 == 0 else "left"
            body = json.dumps({"event": f"meeting.participant_{kind}", "event_ts": 1,
                               "payload": {"account_id": "a", "object": {
                                   "id": MEETING, "uuid": "bench-instance", "host_id": "h",
                                   "participant": {
                                       "user_id": str(n // 2), "user_name": f"Person claim {n}",
                                       "id": "", "participant_uuid": f"PU-{n // 2}",
                                       "email": "", "registrant_id": "",
                                       ("join_time" if kind == "joined" else "leave_time"):
                                           "2026-12-01T18:01:00Z"}}}},
                              separators=(",", ":"))
            bodies.append(f"{timestamp}\t{zoom_signature(HOOK_SECRET, timestamp, body.encode())}"
                          f"\t{body}")
        bodies_file = folder / "bodies.txt"
        bodies_file.write_text("\n".join(bodies) + "\n")
        floor_hook = reference("floor: bare Flask POST (webhook)",
                               f"http://127.0.0.1:{floor_port}/hook", "POST", floor_cpu,
                               env={"BODIES_FILE": str(bodies_file)})
        hooks = scenario("4. webhook ingest (signed events)", "POST",
                         ["/webhooks/zoom"] * 1000, env={"BODIES_FILE": str(bodies_file)})
        hooks.floor_rps, hooks.nginx_rps = floor_hook.rps, limit.rps

        # Claims through nginx with the shipped site (TLS), a new connection per request.
        https_port, http_port = free_port(), free_port()
        site = write_nginx(folder, http_port, https_port, gate_port, key=CERT_KEY,
                           workers=NGINX_WORKERS)
        shipped = subprocess.Popen([nginx_binary(), "-c", str(site), "-p", str(folder), "-g",
                                    "daemon off;"], stderr=subprocess.DEVNULL)
        processes.append(shipped)
        wait_for_port(https_port, 10)
        print("2c. claim through nginx (TLS, new connection each) ...", file=sys.stderr)
        tail = claim_links[claim.requests + 100:]
        via_nginx = wrk(wrk_binary, f"https://127.0.0.1:{https_port}", seconds, conns,
                        script=script, headers=["Connection: close"],
                        cpu_pids=[gate.pid, redis_pid, shipped.pid],
                        name="2c. claim via nginx+TLS, new connection each",
                        env={"PATHS_FILE": str(paths_file("nginx", tail)), "METHOD": "POST"})
        # The ceiling of that row: nginx answering `return 302` over TLS, a new connection each.
        tls_limit_nginx, tls_port = start_limit_nginx(folder, "tls-limit", tls=True)
        processes.append(tls_limit_nginx)
        print("limit: nginx return 302 over TLS, new connection each ...", file=sys.stderr)
        tls_limit = wrk(wrk_binary, f"https://127.0.0.1:{tls_port}", seconds, conns,
                        script=script, headers=["Connection: close"],
                        cpu_pids=[tls_limit_nginx.pid],
                        name="limit: nginx 302 over TLS, new connection each",
                        env={"PATHS_FILE": str(paths_file("tls-limit", ["/"] * 1000)),
                             "METHOD": "POST"})
        via_nginx.floor_rps, via_nginx.nginx_rps = floor_post.rps, tls_limit.rps

        print(f"7. {len(crowd_links):,} registrants: GET then POST via nginx+TLS ...",
              file=sys.stderr)
        crowd = crowd_scenario(wrk_binary, https_port, paths_file("crowd", crowd_links), conns,
                               [gate.pid, redis_pid, shipped.pid])
        crowd.nginx_rps = tls_limit.rps

        results = [limit, tls_limit, floor_get, floor_post, floor_hook, confirm, claim, rejoin,
                   burst, hooks, via_nginx, crowd, *replica_wait(args, wrk_binary), unix_claim]
        api_seconds = api_bulk_seconds(gate_url)
        memory = memory_per_registrant(redis_server.url)
        print_table(results, bulk_seconds, api_seconds, memory, args)
        print_targets(results, memory, len(crowd_links))
        return results
    finally:
        for process in reversed(processes):
            stop(process)
        redis_server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment of every gunicorn of the run (joingate's and the floor's alike): this
    one without JOINGATE_ settings, and the worker class asked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    if args.worker_class != "sync":
        env.update(JOINGATE_WORKER_CLASS=args.worker_class, JOINGATE_THREADS=str(args.threads))
    return env


def start_limit_nginx(folder: Path, name: str, *, tls: bool = False
                      ) -> tuple[subprocess.Popen, int]:
    """nginx answering ``return 302`` to everything: the machine's limit. With ``tls``, over
    TLS under the shipped site's settings (its certificate in ``folder``, written by
    stack.write_nginx) and its number of worker processes."""
    port = free_port()
    listen, workers = f"127.0.0.1:{port}", "auto"
    if tls:
        listen += (f" ssl; ssl_certificate {folder}/fullchain.pem; ssl_certificate_key"
                   f" {folder}/privkey.pem; ssl_protocols TLSv1.2 TLSv1.3;"
                   f" ssl_session_cache shared:{name}:10m; ssl_session_timeout 1h")
        workers = NGINX_WORKERS
    (folder / f"{name}.conf").write_text(
        f"worker_processes {workers}; pid {folder}/{name}.pid; error_log {folder}/{name}.err;"
        f" events {{ worker_connections 4096; }} http {{ access_log off; server {{"
        f" listen {listen}; location / {{ return 302 https://app.zoom.us/; }} }} }}")
    process = subprocess.Popen([nginx_binary(), "-c", str(folder / f"{name}.conf"), "-p",
                                str(folder), "-g", "daemon off;"])
    wait_for_port(port, 10)
    return process, port


def crowd_scenario(wrk_binary: str, https_port: int, paths: Path, connections: int,
                   cpu_pids: list[int]) -> Result:
    """7. A class arriving: every registrant of ``paths`` opens (GET) then claims (POST) their
    link through nginx + TLS, a new connection per request, as fast as ``connections`` go
    (bench/registrants.lua); stops when every link is answered, or after CROWD_LIMIT_SECONDS."""
    count = sum(1 for _ in open(paths))
    return wrk(wrk_binary, f"https://127.0.0.1:{https_port}", CROWD_LIMIT_SECONDS, connections,
               script=ROOT / "bench" / "registrants.lua", headers=["Connection: close"],
               cpu_pids=cpu_pids, name=f"7. {count:,} registrants GET+POST via nginx+TLS",
               env={"PATHS_FILE": str(paths)})


def replica_wait(args: argparse.Namespace, wrk_binary: str) -> list[Result]:
    """Claims of fresh links on a primary with one replica on loopback (both on these 2
    cores), under JOINGATE_REDIS_WAIT_REPLICAS 0 (the 303 once the primary has the claim) and
    1 (once the replica has it too: EVALSHA and WAIT in one send). Same primary, replica and
    gunicorn settings in both rows; only the setting differs."""
    from datetime import datetime

    from joingate import create_app
    from joingate.roster import RegistrantInput

    folder = Path(tempfile.mkdtemp(prefix="joingate-bench-wait-"))
    (folder / "primary").mkdir()
    primary = RedisServer(folder / "primary", extra=("--appendonly", "yes",
                                                     "--appendfsync", args.appendfsync))
    primary.start()
    replica = replica_of(folder / "replica", primary)
    results = []
    try:
        env = server_env(args)
        env.update(JOINGATE_SECRET_KEY=SECRET, JOINGATE_REDIS_URL=primary.url,
                   PROMETHEUS_MULTIPROC_DIR=str(folder / "metrics"))
        service = create_app({"SECRET_KEY": SECRET, "REDIS_URL": primary.url},
                             environ={}).extensions["joingate"]
        service.meetings.add(MEETING, topic="Bench", start=datetime.now(UTC), duration=120)
        script = ROOT / "bench" / "paths.lua"
        for replicas in (0, 1):
            print(f"2{'de'[replicas]}. claim, replica attached, WAIT {replicas} ...",
                  file=sys.stderr)
            people = [RegistrantInput(f"wait{replicas}-{n}@example.org", f"Wait {n}")
                      for n in range(max(20_000, 2_500 * args.seconds))]
            paths = [link.url.split("/j/", 1)[1]
                     for link in service.meetings.issue_links(MEETING, people)]
            (folder / "paths").write_text("".join(f"/j/{path}\n" for path in paths))
            gate, port = start_gunicorn({**env, "JOINGATE_REDIS_WAIT_REPLICAS": str(replicas)},
                                        workers=None, log=folder / f"gate{replicas}.log")
            try:
                warm = [f"/j/{path}" for path in paths[-2000:]]
                (folder / "warm").write_text("\n".join(warm) + "\n")
                subprocess.run([wrk_binary, "-t2", f"-c{args.connections}", "-d2s", "-s",
                                str(script), f"http://127.0.0.1:{port}"], capture_output=True,
                               timeout=60, env={**os.environ, "THREADS": "2",
                                                "PATHS_FILE": str(folder / "warm"),
                                                "METHOD": "POST"})
                results.append(wrk(
                    wrk_binary, f"http://127.0.0.1:{port}", args.seconds, args.connections,
                    script=script, cpu_pids=[gate.pid, primary.process.pid,
                                             replica.process.pid],
                    name=f"2{'de'[replicas]}. claim, replica attached, WAIT {replicas}",
                    env={"PATHS_FILE": str(folder / "paths"), "METHOD": "POST"}))
            finally:
                stop(gate)
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return results


def api_bulk_seconds(gate_url: str) -> tuple[float, float]:
    """Seconds for POST /registrants/bulk of 5,000 new registrants (through gunicorn), and
    for the same request replayed with its Idempotency-Key."""
    import requests

    people = [{"email": f"api{n}@example.org", "first_name": "Api", "last_name": str(n)}
              for n in range(5000)]
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Idempotency-Key": "bench-bulk-1"}
    url = f"{gate_url}/api/v1/meetings/{MEETING}/registrants/bulk"
    timings = []
    for _ in range(2):
        began = time.perf_counter()
        answer = requests.post(url, json={"registrants": people}, headers=headers, timeout=60)
        timings.append(time.perf_counter() - began)
        if answer.status_code != 200 or len(answer.json()["registrants"]) != 5000:
            raise RuntimeError(f"bulk upsert failed: {answer.status_code} {answer.text[:300]}")
    return timings[0], timings[1]


def memory_per_registrant(url: str, count: int = 10_000) -> float:
    """Bytes of Redis per registrant with its link, one open, one claim and one stay."""
    from joingate import create_app
    from joingate.roster import RegistrantInput
    from joingate.zoom.events import ParticipantEvent

    app = create_app({"SECRET_KEY": SECRET, "REDIS_URL": url}, environ={})
    service = app.extensions["joingate"]
    redis_client = service.store.redis
    meeting = "99999999999"
    before = int(redis_client.info("memory")["used_memory"])
    from datetime import datetime

    service.meetings.add(meeting, topic="Memory", start=datetime.now(UTC), duration=60)
    links = service.meetings.issue_links(meeting, [RegistrantInput(f"m{n}@example.org", f"Member {n}")
                                          for n in range(count)])
    for n, link in enumerate(links):
        ref = service.signer.read_link_token(link.url.rsplit("/", 1)[1])
        for mode in ("open", "claim"):
            service.store.gate(mode, ref.meeting_id, ref.registrant_id, ref.version,
                               time.time(), "", f"device{n}", "203.0.113.7", UA)
        service.presence.record(ParticipantEvent(
            kind="joined", meeting_id=meeting, instance="mem", at=time.time(),
            at_text="2026-12-01T18:01:00Z", user_id=str(n), user_name=link.display_name,
            participant_id="", participant_uuid=f"PU-{n}", email="", registrant_id="",
            customer_key="", is_host=False))
    after = int(redis_client.info("memory")["used_memory"])
    return (after - before) / count


def print_table(results: list[Result], bulk_seconds: float, api_seconds: tuple[float, float],
                memory: float, args: argparse.Namespace) -> None:
    workers = ("gunicorn sync" if args.worker_class == "sync"
               else f"gunicorn gthread x {args.threads} threads")
    print(f"\njoingate benchmarks: {os.cpu_count()} cores, {args.seconds} s per scenario, "
          f"{args.connections} connections, wrk, loopback, {workers}, Redis appendfsync "
          f"{args.appendfsync}\n")
    print_rows(results)
    print(f"\n5. bulk issue: 50,000 links from one CSV (joingate links issue): "
          f"{bulk_seconds:.1f} s")
    print(f"5b. API bulk upsert of 5,000 registrants (POST /registrants/bulk): "
          f"{api_seconds[0]:.2f} s; replayed with its Idempotency-Key: {api_seconds[1]:.2f} s")
    print(f"6. Redis memory per registrant (link, open, claim, one stay): {memory:.0f} bytes")


def print_rows(results: list[Result]) -> None:
    print(f"{'scenario':<48} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} "
          f"{'errors':>6} {'/floor':>7} {'/nginx':>7}")
    for r in results:
        cpu = f"{r.cpu_us:.0f}" if r.cpu_us is not None else "-"
        to_floor = f"{r.rps / r.floor_rps:.0%}" if r.floor_rps else "-"
        to_nginx = f"{r.rps / r.nginx_rps:.1%}" if r.nginx_rps else "-"
        print(f"{r.name:<48} {r.rps:>8.0f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {cpu:>10} "
              f"{r.errors:>6} {to_floor:>7} {to_nginx:>7}")


def print_targets(results: list[Result], memory: float, crowd_size: int) -> None:
    """Issue 15's targets, read from this run."""
    rows = {r.name.split(" ", 1)[0]: r for r in results}
    claim, rejoin, confirm, hooks, crowd = (rows["2."], rows["2b."], rows["1."], rows["4."],
                                            rows["7."])
    crowd_seconds = crowd.requests / crowd.rps if crowd.rps else float("inf")
    finished = crowd.requests >= 2 * crowd_size
    print("\nTargets (issue 15):")
    for text, met in (
            (f"claim >= 85% of the POST floor: {claim.rps / claim.floor_rps:.0%}",
             claim.rps >= 0.85 * claim.floor_rps),
            (f"rejoin >= 85% of the POST floor: {rejoin.rps / rejoin.floor_rps:.0%}",
             rejoin.rps >= 0.85 * rejoin.floor_rps),
            (f"confirm page >= 80% of the GET floor: {confirm.rps / confirm.floor_rps:.0%}",
             confirm.rps >= 0.80 * confirm.floor_rps),
            (f"webhook ingest >= 75% of the webhook floor: {hooks.rps / hooks.floor_rps:.0%}",
             hooks.rps >= 0.75 * hooks.floor_rps),
            (f"claim p99 <= 40 ms at 64 connections: {claim.p99_ms:.1f} ms", claim.p99_ms <= 40),
            (f"{crowd_size:,} registrants GET+POST via nginx+TLS in <= 30 s, 0 errors, p99 < "
             f"250 ms: {crowd_seconds:.1f} s{'' if finished else ' (did not finish)'}, "
             f"{crowd.errors} errors, p99 {crowd.p99_ms:.0f} ms",
             finished and crowd_seconds <= 30 and crowd.errors == 0 and crowd.p99_ms < 250),
            (f"<= 1,024 bytes of Redis per registrant: {memory:.0f}", memory <= 1024)):
        print(f"  {'met    ' if met else 'NOT MET'}  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per scenario (max 60)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--appendfsync", choices=["always", "everysec", "no", "both"],
                        default="always",
                        help="Redis's appendfsync (default: always, as deploy/redis ships; "
                             "both: always, then everysec)")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync",
                        help="gunicorn's worker class for joingate and the floor alike "
                             "(default: sync, as gunicorn.conf.py ships)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--only", choices=["all", "replica-wait"], default="all",
                        help="replica-wait: only the claims with a replica, WAIT 0 and 1")
    args = parser.parse_args()
    args.seconds = max(1, min(args.seconds, 60))
    for policy in (["always", "everysec"] if args.appendfsync == "both" else [args.appendfsync]):
        policy_args = argparse.Namespace(**{**vars(args), "appendfsync": policy})
        if args.only == "replica-wait":
            print(f"\njoingate benchmarks, claims with a replica: {os.cpu_count()} cores, "
                  f"{args.seconds} s per scenario, {args.connections} connections, wrk, "
                  f"loopback, Redis appendfsync {policy}\n")
            print_rows(replica_wait(policy_args, ensure_wrk()))
        else:
            run(policy_args)


if __name__ == "__main__":
    main()
