"""Real servers on loopback for the tests and the benchmarks: redis-server (alone or as a
three-master cluster), gunicorn with the shipped gunicorn.conf.py, nginx with the shipped site.
Every process is started here and ended here, by its own handle."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
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
            except redis_lib.exceptions.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(10)
        self.process = None


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




def gunicorn_env(redis_url: str, secret: str = "test-secret-key", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINGATE_")}
    env.update(JOINGATE_SECRET_KEY=secret, JOINGATE_REDIS_URL=redis_url,
               JOINGATE_PUBLIC_URL="https://gate.example.org", **extra)
    return env
