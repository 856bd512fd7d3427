"""Real servers on loopback for the tests and the benchmarks: redis-server (alone or as a
three-master cluster), gunicorn with the shipped gunicorn.conf.py, nginx with the shipped site.
Every process is started here and ended here, by its own handle."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_lib

ROOT = Path(__file__).resolve().parent.parent


class MissingServer(RuntimeError):
    """A server binary is not installed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port()
        if port > 55000:
            port = 20000 + port % 30000
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
            return port
        except OSError:
            continue
    raise RuntimeError("no free cluster port")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class RedisServer:
    """A redis-server process this suite started; stop/start keep the same port and files."""

    directory: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise MissingServer("redis-server is not installed (.ci/run installs it)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--daemonize", "no", *(self.extra or ("--appendonly", "no"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        client = redis_lib.Redis(port=self.port, socket_timeout=0.5)
        while True:
            try:
                client.ping()
                return
            except redis_lib.exceptions.ResponseError:
                return                   # it answers, with a refusal (MASTERDOWN): started
            except redis_lib.exceptions.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop(kill=True)
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(10)
        self.process = None


class LaggyLink:
    """A TCP link on loopback in front of a Redis primary for one replica's replication stream:
    what the primary sends reaches the replica ``lag`` seconds later (a distant or congested
    network); what the replica sends (acknowledgements) passes at once. When the primary's
    side closes (it died), what is still on the way is dropped: it never left that machine."""

    def __init__(self, target_port: int, lag: float) -> None:
        self.target, self.lag = target_port, lag
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                replica, _ = self.listener.accept()
            except OSError:
                continue
            try:
                primary = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                replica.close()                     # the primary is down: so is the link
                continue
            late: queue.Queue = queue.Queue()
            threading.Thread(target=self._read_primary, args=(primary, replica, late),
                             daemon=True).start()
            threading.Thread(target=self._deliver, args=(replica, late), daemon=True).start()
            threading.Thread(target=self._pass, args=(replica, primary), daemon=True).start()

    def _read_primary(self, primary: socket.socket, replica: socket.socket,
                      late: queue.Queue) -> None:
        try:
            while data := primary.recv(65536):
                late.put((time.monotonic() + self.lag, data))
        except OSError:
            pass
        late.put(None)                              # the primary is gone: drop what is left

    def _deliver(self, replica: socket.socket, late: queue.Queue) -> None:
        try:
            while (item := late.get()) is not None:
                due, data = item
                time.sleep(max(0.0, due - time.monotonic()))
                if any(entry is None for entry in list(late.queue)):
                    break                           # the primary died while this was on the way
                replica.sendall(data)
        except OSError:
            pass
        finally:
            replica.close()

    def _pass(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def replica_of(directory: Path, primary: RedisServer, via_port: int | None = None) -> RedisServer:
    """A started redis-server replicating ``primary`` (already in sync when this returns),
    directly or through a link listening on ``via_port``."""
    directory.mkdir(parents=True, exist_ok=True)
    # Redis 7 waits 5 s for more replicas before a full sync by default.
    redis_lib.Redis(port=primary.port).config_set("repl-diskless-sync-delay", 0)
    replica = RedisServer(directory, extra=(
        "--appendonly", "no", "--replicaof", "127.0.0.1", str(via_port or primary.port),
        "--repl-diskless-sync-delay", "0"))
    replica.start()
    try:
        wait_for_replicas(primary.port, 1, at_least=True)
    except BaseException:
        replica.stop()
        raise
    return replica


def wait_for_replicas(port: int, count: int, timeout: float = 15.0,
                      at_least: bool = False) -> None:
    """Wait until the Redis on ``port`` is a primary with ``count`` replicas online."""
    client = redis_lib.Redis(port=port, socket_timeout=1, decode_responses=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = client.info("replication")
        except redis_lib.exceptions.RedisError:
            info = {}
        online = sum(1 for name, value in info.items()
                     if name.startswith("slave") and isinstance(value, dict)
                     and value.get("state") == "online")
        if info.get("role") == "master" and (online >= count if at_least else online == count):
            return
        time.sleep(0.05)
    raise RuntimeError(f"127.0.0.1:{port} has not {count} replicas online after {timeout} s")


@dataclass
class Sentinel:
    """One redis-server --sentinel process, watching ``service`` at ``primary_port``."""

    directory: Path
    primary_port: int
    service: str
    quorum: int = 2
    down_after_ms: int = 1000
    failover_timeout_ms: int = 4000
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "sentinel.conf"     # sentinel rewrites it: one file each
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary_port} {self.quorum}\n"
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {self.service} 2\n")
        self.process = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(port=self.port, socket_timeout=1, decode_responses=True)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@dataclass
class SentinelGroup:
    """A Redis primary, ``replicas`` replicas and three sentinels (quorum 2) on loopback. Failure
    detection is short (``down_after_ms``), so that a failover takes seconds. ``url`` is
    joingate's ``redis+sentinel://`` URL for the group. With ``lag``, each replica replicates
    through a LaggyLink (the sentinels would point a replica replicating from another address
    back at the primary after ``failover_timeout_ms``, so that is long then)."""

    directory: Path
    replicas: int = 2
    service: str = "jgprimary"
    down_after_ms: int = 1000
    failover_timeout_ms: int = 4000
    lag: float = 0.0
    servers: list[RedisServer] = field(default_factory=list)
    sentinels: list[Sentinel] = field(default_factory=list)
    links: list[LaggyLink] = field(default_factory=list)

    @property
    def url(self) -> str:
        return ("redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
                + f"/{self.service}/0")

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()                  # whatever did start
            raise

    def _start(self) -> None:
        primary = RedisServer(self.directory / "r0", extra=(
            "--appendonly", "no", "--repl-diskless-sync-delay", "0"))
        primary.directory.mkdir(parents=True)
        primary.start()
        self.servers.append(primary)
        for n in range(self.replicas):
            via = None
            if self.lag:
                self.links.append(LaggyLink(primary.port, self.lag))
                via = self.links[-1].port
            self.servers.append(replica_of(self.directory / f"r{n + 1}", primary, via))
        wait_for_replicas(primary.port, self.replicas)
        for n in range(3):
            sentinel = Sentinel(self.directory / f"s{n}", primary.port, self.service,
                                down_after_ms=self.down_after_ms,
                                failover_timeout_ms=max(self.failover_timeout_ms, 120_000)
                                if self.lag else self.failover_timeout_ms)
            sentinel.start()
            self.sentinels.append(sentinel)
        self.wait_until_watched()

    def wait_until_watched(self, timeout: float = 20.0) -> None:
        """Every sentinel knows the primary, every replica and the two other sentinels (the
        majority a failover needs)."""
        deadline = time.monotonic() + timeout
        for sentinel in self.sentinels:
            client = sentinel.client()
            while True:
                try:
                    replicas = client.execute_command("SENTINEL", "REPLICAS", self.service)
                    peers = client.execute_command("SENTINEL", "SENTINELS", self.service)
                    known = [r for r in replicas if "s_down" not in str(r)]
                    if len(known) >= self.replicas and len(peers) >= 2:
                        break
                except redis_lib.exceptions.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the sentinels did not find each other and the replicas")
                time.sleep(0.1)

    def primary_port(self) -> int:
        """The primary's port as the sentinels name it now (a majority of those that answer)."""
        ports = []
        for sentinel in self.sentinels:
            try:
                address = sentinel.client().execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
                ports.append(int(address[1]))
            except (redis_lib.exceptions.RedisError, TypeError):
                continue
        return max(set(ports), key=ports.count)

    def server(self, port: int) -> RedisServer:
        return next(server for server in self.servers if server.port == port)

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary; returns it (stopped)."""
        primary = self.server(self.primary_port())
        primary.stop(kill=True)
        return primary

    def wait_for_new_primary(self, old_port: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port != old_port:
                return port
            time.sleep(0.1)
        raise RuntimeError(f"no failover after {timeout} s")

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()
        for link in self.links:
            link.close()


@dataclass
class RedisCluster:
    """Three redis-server masters in cluster mode on loopback, joined by redis-cli."""

    directory: Path
    servers: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self) -> None:
        for n in range(3):
            folder = self.directory / f"node{n}"
            folder.mkdir()
            server = RedisServer(folder, port=free_cluster_port(),
                                 extra=("--cluster-enabled", "yes",
                                                "--cluster-config-file", "nodes.conf",
                                                "--appendonly", "no"))
            server.start()
            self.servers.append(server)
        subprocess.run(["redis-cli", "--cluster", "create",
                        *[f"127.0.0.1:{s.port}" for s in self.servers],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        for server in self.servers:
            client = redis_lib.Redis(port=server.port)
            while client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster did not come up")
                time.sleep(0.1)

    def flush(self) -> None:
        for server in self.servers:
            redis_lib.Redis(port=server.port).flushall()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_gunicorn(env: dict[str, str], workers: int | None = 4, app: str = "wsgi:app",
                   log: Path | None = None) -> tuple[subprocess.Popen, int]:
    """gunicorn with the shipped gunicorn.conf.py on a free loopback port (``workers`` None:
    the file's own default)."""
    port = free_port()
    env = {**env, "JOINGATE_BIND": f"127.0.0.1:{port}"}
    if workers is not None:
        env["JOINGATE_WORKERS"] = str(workers)
    output = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app],
        cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        wait_for_port(port, timeout=20)
    except RuntimeError:
        stop(process)
        raise
    return process, port


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                       else None)
    if binary is None:
        raise MissingServer("nginx is not installed (.ci/run installs it)")
    return binary


def write_nginx(folder: Path, http_port: int, https_port: int, app_port: int, *,
                key: tuple[str, ...] = ("-newkey", "rsa:2048"), workers: str = "1") -> Path:
    """The shipped site with its ports and paths pointed at this test's folder. ``key``: the
    certificate's key as openssl options (the benchmarks use an ECDSA P-256 key, certbot's
    default); ``workers``: nginx's worker_processes."""
    subprocess.run(["openssl", "req", "-x509", *key, "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "privkey.pem"),
                    "-out", str(folder / "fullchain.pem")], check=True, capture_output=True)
    site = (ROOT / "deploy/nginx/joingate.conf").read_text()
    site = (site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
                .replace("listen [::]:80;", "")
                .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
                .replace("listen [::]:443 ssl http2;", "")
                .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
                .replace("/var/log/nginx/", f"{folder}/")
                .replace("/etc/ssl/joingate/", f"{folder}/")
                .replace("root /var/www/html;", f"root {folder}/www;")
                .replace("/etc/nginx/joingate_proxy.conf", f"{folder}/joingate_proxy.conf"))
    assert site.count(str(folder)) >= 6
    (folder / "joingate.conf").write_text(site)
    shutil.copy(ROOT / "deploy/nginx/joingate_proxy.conf", folder / "joingate_proxy.conf")
    main = folder / "nginx.conf"
    main.write_text(f"""
user root;
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/joingate.conf;
}}
""")
    return main




def gunicorn_env(redis_url: str, secret: str = "test-secret-key-of-at-least-32-characters",
                 **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env.update(JOINGATE_SECRET_KEY=secret, JOINGATE_REDIS_URL=redis_url,
               JOINGATE_PUBLIC_URL="https://gate.example.org", **extra)
    return env
