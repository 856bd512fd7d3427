"""Redis: the connection, every key name, every Lua script. No other module talks to Redis.

Every key lives under one prefix, and every key of a meeting carries the meeting in a hash tag
(``jg:{m:85746065432}:...``) so that a script touching one meeting stays in one Cluster slot.
Every key of a meeting expires at the meeting's ``expire_at`` (window close plus retention).
Redis errors leave this module as :class:`StorageUnavailable` (down, slow) or :class:`NotFound`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .attendance import HANDOVER
from .errors import NotFound, NotReplicated, SendBusy, StorageUnavailable
from .folds import fold_stays, is_fold
from .records import (
    SEND_COUNTERS,
    FeedEvent,
    Fold,
    FoldMember,
    GateOutcome,
    GateResult,
    HistoryEntry,
    Instance,
    Meeting,
    Registrant,
    SendRecord,
    SendRun,
    Stay,
)
from .zoom.events import ParticipantEvent

# What one link may store (security finding 4): its first LINK_FEED_BUDGET events (opens,
# claims, refusals) go to the meeting's feed and user-agent table; later ones to its own
# overflow list, which keeps the newest LINK_OVERFLOW_CAP. Nothing is trimmed from the feed, so
# no link can crowd another's evidence out of it, nor grow the meeting's tables past its
# budget; a valid link is still answered every time. (An overflow list for every link would
# cost some 400 bytes per registrant: only the links that need one get one.)
LINK_FEED_BUDGET = 100
LINK_OVERFLOW_CAP = 200
# What one Zoom participant may store (a follow-up of finding 4; participant.lua's header): the
# stays of one participant (its registrant_id, customer_key, Zoom user id or name) and of one
# meeting instance kept one by one, the join and leave times one stay takes; past them a
# delivery is folded into the participant's fold, which follows its newest FOLD_MEMBERS stays
# one by one and keeps FOLD_INTERVALS intervals of the older ones. A participant reconnecting
# 30 times in a class keeps all 31 stays one by one; folded stays still count in the report.
STAYS_PER_PARTICIPANT = 100
STAYS_PER_INSTANCE = 5000
STAYS_PER_REGISTRANT = 10    # on top of STAYS_PER_INSTANCE, per registrant of the meeting
TIMES_PER_STAY = 20
FOLD_INTERVALS = 20
FOLD_MEMBERS = 10
FOLD_FEED_EVERY = 10     # seconds between an instance's folded deliveries that reach the feed
ID_KEY_TTL = 10 * 365 * 86400      # renewed by every process that reads it
UPSERT_CHUNK = 500
OUTBOX_TTL = 30 * 86400

F = TypeVar("F", bound=Callable[..., Any])

# Redis cannot serve now: 503 with Retry-After, never 500. By exception class (redis-py strips the
# error code of the classes it knows), first match wins; then by the error code that starts
# Redis's reply (also inside a script's error on Redis < 7). The reason is what /readyz and the
# log line say.
_UNAVAILABLE_CLASSES: tuple[tuple[type[Exception], str], ...] = (
    (redis.exceptions.TimeoutError, "timeout"),
    (redis.exceptions.BusyLoadingError, "loading"),     # a ConnectionError: before it
    (redis.exceptions.ConnectionError, "down"),
    (redis.exceptions.MasterDownError, "masterdown"),   # a ClusterError: before it
    (redis.exceptions.ClusterError, "cluster"),
    (redis.exceptions.TryAgainError, "cluster"),
    (redis.exceptions.ReadOnlyError, "readonly"),
    (redis.exceptions.OutOfMemoryError, "oom"),
    (redis.exceptions.NoScriptError, "noscript"),       # only when reloading failed too
)
_UNAVAILABLE_CODES = {"BUSY": "busy", "MISCONF": "misconf", "NOREPLICAS": "noreplicas",
                      "LOADING": "loading", "MASTERDOWN": "masterdown", "READONLY": "readonly",
                      "OOM": "oom", "CLUSTERDOWN": "cluster", "TRYAGAIN": "cluster",
                      "NOSCRIPT": "noscript"}
_UNAVAILABLE_CODE_RE = re.compile(r"^(?:Command # \d+ \(.*?\) of pipeline caused error: )?"
                                  r"(?:ERR Error running script.*?-)?([A-Z]+) ", re.S)
UNAVAILABLE_SENTENCES = {
    "down": "Redis did not answer",
    "timeout": "Redis did not answer in time",
    "loading": "Redis is loading its data set",
    "masterdown": "this Redis replica has lost its primary",
    "cluster": "the Redis Cluster cannot serve this key now",
    "readonly": "Redis is a read-only replica (a demoted primary?)",
    "oom": "Redis is out of memory (maxmemory, noeviction): writes are refused",
    "misconf": "Redis refuses writes after a persistence error (MISCONF: disk full or unwritable?)",
    "busy": "Redis is busy running a long script",
    "noreplicas": "Redis refuses writes: too few replicas (min-replicas-to-write)",
    "noscript": "Redis lost joingate's scripts and reloading them failed",
    "replicas": "too few Redis replicas acknowledged the claim in time",
}


def unavailable_reason(exc: Exception) -> str | None:
    """The reason Redis cannot serve now, or None when ``exc`` is a fault of ours (a bug)."""
    for cls, reason in _UNAVAILABLE_CLASSES:
        if isinstance(exc, cls):
            return reason
    match = _UNAVAILABLE_CODE_RE.match(str(exc))
    return _UNAVAILABLE_CODES.get(match.group(1)) if match else None


def translated(method: F) -> F:
    """Turn Redis being down, slow or refusing to serve into StorageUnavailable (with its
    reason), a missing object into NotFound. Any other Redis error is a bug and propagates."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except redis.exceptions.RedisError as exc:
            reason = unavailable_reason(exc)
            if reason is not None:
                raise StorageUnavailable(
                    f"{UNAVAILABLE_SENTENCES[reason]} ({type(exc).__name__})", reason) from exc
            message = str(exc)
            if "NOMEETING" in message or "NOTFOUND" in message:
                raise NotFound("no such meeting or registrant") from None
            raise

    return wrapper  # type: ignore[return-value]


def meeting_wide(builder: Callable[[Keys, str], str]) -> Callable[[Keys, str], str]:
    """Marks a key builder whose key is one per meeting: :meth:`Keys.of_meeting` lists it, so
    moving or clearing a meeting reaches every such key, including keys added later."""
    builder.meeting_wide = True  # type: ignore[attr-defined]
    return builder


class Keys:
    """One builder per key."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def of_meeting(self, meeting_id: str) -> list[str]:
        """Every one-per-meeting key of ``meeting_id`` but the meeting hash itself (registrant
        hashes and each instance's stays come on top)."""
        return [builder(self, meeting_id) for builder in vars(Keys).values()
                if getattr(builder, "meeting_wide", False)]

    def _m(self, meeting_id: str) -> str:
        return f"{self.prefix}:{{m:{meeting_id}}}"

    def meetings(self) -> str:
        return f"{self.prefix}:meetings"

    def meeting(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:meeting"

    def registrant(self, meeting_id: str, rid: str) -> str:
        return f"{self._m(meeting_id)}:r:{rid}"

    def overflow(self, meeting_id: str, rid: str) -> str:
        """A link's events past its feed budget (gate.lua): list of "time, kind, ip, user
        agent", capped."""
        return f"{self._m(meeting_id)}:h:{rid}"

    @meeting_wide
    def displays(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:displays"

    @meeting_wide
    def name_suffixes(self, meeting_id: str) -> str:
        """For unique display names: hash name -> highest n given as "name (n)" (upsert.lua)."""
        return f"{self._m(meeting_id)}:suffixes"

    @meeting_wide
    def zoom_ids(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:zids"

    @meeting_wide
    def roster(self, meeting_id: str) -> str:
        """Registrant ids in order of first issue: a list (a sorted set before 2026-11; read
        either way, turned into a list by the next upsert)."""
        return f"{self._m(meeting_id)}:roster"

    @meeting_wide
    def events(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:events"

    @meeting_wide
    def user_agents(self, meeting_id: str) -> str:
        """User agents seen in a meeting, each stored once: hash short id -> user agent."""
        return f"{self._m(meeting_id)}:uas"

    @meeting_wide
    def staff(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:staff"

    @meeting_wide
    def seen(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:seen"

    @meeting_wide
    def instances(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:instances"

    @meeting_wide
    def ended(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:ended"

    def stays(self, meeting_id: str, instance: str) -> str:
        return f"{self._m(meeting_id)}:stays:{instance}"

    def stay_counts(self, meeting_id: str, instance: str) -> str:
        """Stays of one instance kept one by one (participant.lua): hash participant -> count,
        ``*`` -> all of them, ``@`` -> when a folded delivery last reached the feed."""
        return f"{self._m(meeting_id)}:staycounts:{instance}"

    @meeting_wide
    def checks(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:checks"

    @meeting_wide
    def violations(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:violations"

    @meeting_wide
    def cursor(self, meeting_id: str) -> str:
        """Where the worker is in the meeting's event stream."""
        return f"{self._m(meeting_id)}:cursor"

    def idempotency(self, meeting_id: str, key_digest: str) -> str:
        return f"{self._m(meeting_id)}:idem:{key_digest}"

    def registrant_id_key(self) -> str:
        """The key of registrant ids (hex), made once at random: see Store.registrant_id_key."""
        return f"{self.prefix}:idkey"

    def api_tokens(self) -> str:
        """API tokens: hash sha256(token) -> JSON {id, name, scope, created}."""
        return f"{self.prefix}:{{api}}:tokens"

    @meeting_wide
    def sends(self, meeting_id: str) -> str:
        """Each registrant's latest send: hash registrant id -> JSON send record."""
        return f"{self._m(meeting_id)}:sends"

    @meeting_wide
    def send_problems(self, meeting_id: str) -> str:
        """The sends that bounced, failed or had no valid address: hash id -> JSON record."""
        return f"{self._m(meeting_id)}:sendprob"

    @meeting_wide
    def send_run(self, meeting_id: str) -> str:
        """Progress of the meeting's latest send run: hash."""
        return f"{self._m(meeting_id)}:sendrun"

    # Not meeting-wide: its own short TTL is what frees a meeting whose sender died.
    def send_lock(self, meeting_id: str) -> str:
        """The run that sends the meeting's links now: string, expires unless renewed."""
        return f"{self._m(meeting_id)}:sendlock"

    def move_code(self, meeting_id: str, rid: str) -> str:
        """A registrant's pending move to a new device: hash (device, request id, expiry,
        tries, the code's digest); lives as long as the code."""
        return f"{self._m(meeting_id)}:movecode:{rid}"

    def zoom_token(self) -> str:
        """Zoom's OAuth access token, shared by every process (the Zoom API client)."""
        return f"{self.prefix}:{{zoom}}:token"

    def zoom_token_lock(self) -> str:
        """Held by the one process fetching a new Zoom token."""
        return f"{self.prefix}:{{zoom}}:token:lock"

    def zoom_rate(self, endpoint_class: str, second: int) -> str:
        """Zoom API calls of one endpoint class in one second, across processes."""
        return f"{self.prefix}:{{zoom}}:rate:{endpoint_class}:{second}"

    def zoom_status_changes(self, meeting_id: str, zoom_registrant_id: str, day: str) -> str:
        """Status changes of one Zoom registrant in one day (Zoom allows 10)."""
        return f"{self.prefix}:{{zoom}}:status:{meeting_id}:{zoom_registrant_id}:{day}"

    def readiness(self) -> str:
        """Written by /readyz: Redis must accept a write to be ready."""
        return f"{self.prefix}:readyz"

    def key_fingerprints(self) -> str:
        """Fingerprints of the keys servers verify links with (set)."""
        return f"{self.prefix}:keys"

    def invalid_tokens(self, kind: str, client: str) -> str:
        """Wrong credentials of ``kind`` (badtok, badapi) from one address in the window."""
        return f"{self.prefix}:{kind}:{client}"

    def outbox(self) -> str:
        """Outbound jobs (alerts, Zoom actions): hash job id -> JSON."""
        return f"{self.prefix}:{{outbox}}:jobs"

    def outbox_due(self) -> str:
        """When each outbound job is next tried: sorted set job id -> unix time."""
        return f"{self.prefix}:{{outbox}}:due"

    def outbox_owners(self) -> str:
        """Which worker holds each leased job: hash job id -> worker id."""
        return f"{self.prefix}:{{outbox}}:owners"

    def outbox_done(self) -> str:
        """Jobs finished: sorted set job id -> unix time (never queued again)."""
        return f"{self.prefix}:{{outbox}}:done"


    def organizer_session(self, digest: str) -> str:
        """One dashboard session, keyed by sha256 of its cookie value: JSON (see
        :mod:`joingate.organizer_sessions`)."""
        return f"{self.prefix}:{{organizer}}:session:{digest}"


def connect(url: str, timeout: float) -> Any:
    """A client for ``url``:

    - ``redis://``, ``rediss://``, ``unix://``: one Redis server (redis-py with hiredis);
    - ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``: the master that
      Redis Sentinel names for ``service``, followed through fail-overs;
    - ``redis+cluster://[:password@]host:port[,host:port...]``: Redis Cluster (every script
      keeps its keys in one slot through the meeting hash tag);
    - ``memory://``: fakeredis inside this process (with Lua), for one process only.
    """
    if url.startswith("memory://"):
        import fakeredis

        return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    # One retry on a fresh connection after a dropped one (Redis restarted); none after a timeout,
    # so a slow Redis costs at most `timeout` before the request answers 503.
    # No CLIENT SETINFO on connect: one command per new connection that a slow Redis would
    # make wait a full timeout of its own.
    options: dict[str, Any] = dict(
        decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        driver_info=None)
    if url.startswith(("redis+sentinel://", "redis+cluster://")):
        scheme, nodes, path, password = _split_multi_host(url)
        if scheme == "redis+cluster":
            from redis.cluster import ClusterNode, RedisCluster

            return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                                password=password, **options)
        from redis.sentinel import Sentinel

        service, _, db = path.partition("/")
        sentinel = Sentinel(nodes, sentinel_kwargs={"socket_timeout": timeout,
                                                    "password": password},
                            socket_timeout=timeout)
        return sentinel.master_for(service, password=password, db=int(db or 0), **options)
    return redis.Redis.from_url(url, health_check_interval=30, **options)


def _split_multi_host(url: str) -> tuple[str, list[tuple[str, int]], str, str | None]:
    """``scheme://[:password@]h1:p1,h2:p2/path`` -> (scheme, [(h, p)], path, password)."""
    from urllib.parse import unquote

    scheme, _, rest = url.partition("://")
    hosts, _, path = rest.partition("/")
    password = None
    if "@" in hosts:
        credentials, _, hosts = hosts.rpartition("@")
        password = unquote(credentials.partition(":")[2]) or None
    nodes = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        nodes.append((name or host, int(port) if port.isdigit() else 26379))
    return scheme, nodes, path.strip("/"), password


def user_agent_id(user_agent: str) -> str:
    return hashlib.sha256(user_agent.encode()).hexdigest()[:10] if user_agent else ""


def overflow_entry(line: str) -> HistoryEntry:
    """One line of a link's overflow list (gate.lua's log past the link's feed budget)."""
    at, kind, ip, user_agent = (line.split("\t", 3) + ["", "", ""])[:4]
    return HistoryEntry(kind, float(at or 0), ip, user_agent)


def feed_event(event_id: str, fields: dict[str, str]) -> FeedEvent:
    """A stream entry as a FeedEvent. It happened at its ``at`` field (Zoom's time) or at its
    stream id (ms)."""
    at = fields.get("at") or str(int(event_id.split("-", 1)[0]) / 1000)
    return FeedEvent(id=event_id, kind=fields.get("kind", ""), at=float(at),
                     registrant=fields.get("registrant", ""), ip=fields.get("ip", ""),
                     user_agent=fields.get("ua", ""), instance=fields.get("instance", ""),
                     user_name=fields.get("name", ""),
                     participant_uuid=fields.get("participant", ""),
                     stay=fields.get("stay", ""))


# The meeting fields gate.lua returns (HMGET), in its order.
GATE_MEETING_FIELDS = ("start", "open_before", "duration", "close_after", "expire_at",
                       "max_devices", "rejoin", "target", "pwd", "topic", "support",
                       "auto_submit", "max_moves", "language", "timezone")

# How records are stored: the fields of the meeting hash and of a registrant hash. Only this
# module knows these names (and the Lua scripts, whose headers name them).
MEETING_FIELDS = ("topic", "start", "duration", "expire_at", "pwd", "target", "open_before",
                  "close_after", "max_devices", "rejoin", "policy", "support", "auto_submit",
                  "max_moves", "language", "timezone")


def _int(value: str | None, default: int = 0) -> int:
    """A stored number (an API may have sent 7.0) as an int."""
    return int(float(value)) if value not in (None, "") else default


def meeting_from_hash(meeting_id: str, fields: dict[str, str]) -> Meeting:
    return Meeting(
        id=meeting_id, topic=fields.get("topic", ""), start=_int(fields.get("start")),
        duration=_int(fields.get("duration")), expire_at=_int(fields.get("expire_at")),
        pwd=fields.get("pwd", ""), target=fields.get("target") or "webclient",
        open_before=_int(fields.get("open_before"), 15 * 60),
        close_after=_int(fields.get("close_after"), 60 * 60),
        max_devices=_int(fields.get("max_devices"), 1), rejoin=fields.get("rejoin", "1") != "0",
        policy=fields.get("policy") or "alert", support=fields.get("support", ""),
        auto_submit=fields.get("auto_submit") == "1",
        max_moves=_int(fields.get("max_moves"), 2), language=fields.get("language", ""),
        timezone=fields.get("timezone", ""))


@functools.lru_cache(maxsize=256)
def gate_meeting(meeting_id: str, fields: tuple[str | None, ...]) -> Meeting:
    """The meeting of gate.lua's reply (HMGET of GATE_MEETING_FIELDS), read once per distinct
    reply: every claim of a class brings the same fields, and a Meeting never changes."""
    return meeting_from_hash(meeting_id, {name: value for name, value in zip(
        GATE_MEETING_FIELDS, fields) if value is not None})


def meeting_to_hash(meeting: Meeting) -> dict[str, str]:
    values = {name: getattr(meeting, name) for name in MEETING_FIELDS}
    return {name: str(int(value)) if isinstance(value, bool) else str(value)
            for name, value in values.items()}


def registrant_from_hash(rid: str, fields: dict[str, str]) -> Registrant:
    return Registrant(
        id=rid, email=fields.get("email", ""), name=fields.get("name", ""),
        display_name=fields.get("display", ""), version=_int(fields.get("ver"), 1),
        zoom_registrant_id=fields.get("zid", ""), join_url=fields.get("join_url", ""),
        revoked=fields.get("revoked") == "1", devices=tuple(fields.get("devices", "").split()),
        first_claim=_int(fields.get("first_claim")), opens=_int(fields.get("opens")),
        claims=_int(fields.get("claims")), refused=_int(fields.get("refused")),
        moves=_int(fields.get("moves")))


def send_record_to_json(record: SendRecord) -> str:
    return json.dumps({"state": record.state, "at": record.at, "mid": record.message_id,
                       "ver": record.version, "reply": record.reply, "tries": record.tries},
                      ensure_ascii=False)


def send_record_from_json(raw: str) -> SendRecord:
    """A send record as send.lua stores it (JSON with short names, written by
    :func:`send_record_to_json`)."""
    data = json.loads(raw)
    return SendRecord(data["state"], float(data["at"]), data.get("mid", ""), int(data["ver"]),
                      data.get("reply", ""), int(data.get("tries", 0)))


def send_run_to_hash(run: SendRun) -> dict[str, str]:
    return {"id": run.id, "by": run.by, "job": run.job, "state": run.state,
            "total": str(run.total), "started": repr(run.started), "updated": repr(run.updated),
            "finished": "" if run.finished is None else repr(run.finished), "error": run.error,
            **{name: str(run.counts.get(name, 0)) for name in SEND_COUNTERS}}


def send_run_from_hash(fields: dict[str, str]) -> SendRun:
    return SendRun(
        id=fields.get("id", ""), by=fields.get("by", ""), job=fields.get("job", ""),
        state=fields.get("state", ""), total=_int(fields.get("total")),
        started=float(fields.get("started") or 0), updated=float(fields.get("updated") or 0),
        finished=float(fields["finished"]) if fields.get("finished") else None,
        error=fields.get("error", ""),
        counts={name: _int(fields.get(name)) for name in SEND_COUNTERS})


def stay_from_json(instance: str, key: str, raw: str) -> Stay:
    """A stay as participant.lua stores it (see its header for the short names)."""
    return _stay_from_fields(instance, key, json.loads(raw))


def _stay_from_fields(instance: str, key: str, fields: dict[str, Any]) -> Stay:
    def times(name: str) -> list[float]:
        value = fields.get(name)
        return sorted(float(t) for t in value) if isinstance(value, list) else []

    return Stay(key=key, instance=instance, joins=times("j"), leaves=times("l"),
                zoom_registrant_id=fields.get("zr", ""), customer_key=fields.get("ck", ""),
                email=fields.get("em", ""), zoom_user_id=fields.get("id", ""),
                user_name=fields.get("n", ""), renamed_to=fields.get("rn", ""),
                participant_uuid=fields.get("pu", ""), host=bool(fields.get("h")))


def fold_from_json(instance: str, key: str, raw: str) -> Fold:
    """A fold as participant.lua stores it (see its header for the short names)."""
    fields = json.loads(raw)

    def listed(name: str) -> list:
        value = fields.get(name)
        return value if isinstance(value, list) else []     # cjson writes an empty list as {}

    members = fields.get("m")
    members = members if isinstance(members, dict) else {}
    return Fold(
        key=key, instance=instance,
        identity=_stay_from_fields(instance, key, {**fields, "j": [], "l": []}),
        members=tuple(FoldMember(member_key, tuple(float(t) for t in entry.get("j") or ()),
                                 tuple(float(t) for t in entry.get("l") or ()),
                                 entry.get("p") or "")
                      for member_key, entry in members.items()),
        union=tuple((float(a), float(b)) for a, b in listed("a")),
        cut=tuple((float(a), float(b)) for a, b in listed("k")),
        second=tuple((float(a), float(b)) for a, b in listed("b")),
        there_since=float(fields["f"]) if fields.get("f") is not None else None,
        spans_let_go=int(fields.get("r") or 0))


class _Lane(threading.local):
    """This thread's own connection for the hot scripts, and the process that opened it."""

    pid: int = 0
    connection: Any = None


class Store:
    """Domain-level reads and writes; each method is one round trip unless it says otherwise."""

    def __init__(self, client: Any, prefix: str = "jg", wait_replicas: int = 0,
                 wait_ms: int = 500) -> None:
        # redis.Redis, RedisCluster, a Sentinel's master or FakeRedis, all decoding to str:
        # typed Any, since their stubs describe bytes responses.
        self.redis: Any = client
        self.keys = Keys(prefix)
        self.wait_replicas = wait_replicas   # REDIS_WAIT_REPLICAS: see gate()
        self.wait_ms = wait_ms
        self.scripts = {name: client.register_script(_lua(name))
                        for name in ("gate", "upsert", "manage", "participant", "instance",
                                     "send", "move", "outbox")}
        # The request paths' scripts (gate, participant) run on a connection of the thread's own
        # on a single Redis server: redis-py's pool checks a connection out and back in around
        # every command, with bookkeeping that costs more CPU than the round trip itself
        # (docs/benchmarks.md). Sentinel, Cluster and the embedded store keep redis-py's path.
        self._lane = _Lane()
        self._own_lane = (type(client) is redis.Redis
                          and type(client.connection_pool) is redis.ConnectionPool)

    def _hot_script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` as redis-py's Script would (EVALSHA, loaded again after a
        NOSCRIPT), with the retry policy :func:`connect` sets: one retry on a fresh connection
        after a dropped one, none after a timeout (the connection is closed, so a late reply is
        never read as the next one)."""
        script = self.scripts[name]
        if not self._own_lane:
            return script(keys=keys, args=args)
        reconnected = reloaded = False
        while True:
            connection = self._lane_connection()
            try:
                connection.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return connection.read_response()
            except redis.exceptions.NoScriptError:
                if reloaded:
                    raise
                reloaded = True
                self.redis.script_load(script.script)      # after a restart or SCRIPT FLUSH
            except redis.exceptions.ConnectionError:
                connection.disconnect()
                if reconnected:
                    raise
                reconnected = True
            except (redis.exceptions.TimeoutError, OSError):
                connection.disconnect()
                raise

    def _lane_connection(self) -> Any:
        lane = self._lane
        if lane.connection is None or lane.pid != os.getpid():    # new thread, forked worker
            lane.connection = self.redis.connection_pool.make_connection()
            lane.pid = os.getpid()
        return lane.connection

    @property
    def embedded(self) -> bool:
        return type(self.redis).__module__.startswith("fakeredis")

    @translated
    def announce_key_fingerprints(self, fingerprints: Iterable[str]) -> None:
        """Record the fingerprints of the keys a server verifies links with (kept 400 days,
        renewed at every start), so a CLI elsewhere can tell it signs with a key the server
        does not know."""
        name = self.keys.key_fingerprints()
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(name, *fingerprints)
            pipe.expire(name, 400 * 86400)
            pipe.execute()

    @translated
    def key_fingerprints(self) -> set[str]:
        return set(self.redis.smembers(self.keys.key_fingerprints()))

    @translated
    def ping(self) -> None:
        """Raise StorageUnavailable unless Redis answers and accepts a write. One round trip;
        a read first, so that a replica that lost its primary says MASTERDOWN (the cause)
        rather than READONLY (one key: a Redis Cluster pipeline cannot carry PING)."""
        key = self.keys.readiness()
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.set(key, "1", ex=60)
            pipe.execute()

    @translated
    def count_invalid_token(self, client: str, window: int, kind: str = "badtok") -> int:
        """Count one invalid token (``kind``: badtok for links, badapi for the API) from
        ``client`` in the current window; returns the count."""
        key = self.keys.invalid_tokens(kind, client)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
            count, _ = pipe.execute()
        return int(count)

    @translated
    def registrant_id_key(self) -> str:
        """The key registrant ids are derived with (signing.registrant_id_for), as hex: made at
        random by the first process that asks, kept under one key (never rotated, unlike
        SECRET_KEY), its TTL renewed to ID_KEY_TTL by every process that reads it. One round
        trip."""
        name = self.keys.registrant_id_key()
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(name, secrets.token_hex(32), nx=True, ex=ID_KEY_TTL)
            pipe.getex(name, ex=ID_KEY_TTL)
            _, key = pipe.execute()
        return key

    # Meetings

    @translated
    def save_meeting(self, meeting: Meeting, staff: Iterable[str] | None = None) -> bool:
        """Create or update a meeting; returns True when it was created. ``staff`` (casefolded
        emails and Zoom user ids never flagged) replaces the stored list unless None. Moves the
        expiry of every key of the meeting to the (possibly new) ``expire_at``."""
        meeting_id = meeting.id
        key = self.keys.meeting(meeting_id)
        expire_at = meeting.expire_at
        with self.redis.pipeline(transaction=False) as pipe:   # the meetings set: another slot
            pipe.exists(key)
            pipe.hset(key, mapping=meeting_to_hash(meeting))
            pipe.expireat(key, expire_at)
            pipe.sadd(self.keys.meetings(), meeting_id)
            pipe.expireat(self.keys.meetings(), expire_at, gt=True)
            pipe.expireat(self.keys.meetings(), expire_at, nx=True)
            staff = None if staff is None else list(staff)
            if staff is not None:
                pipe.delete(self.keys.staff(meeting_id))
                if staff:
                    pipe.sadd(self.keys.staff(meeting_id), *staff)
            pipe.hkeys(self.keys.instances(meeting_id))
            existed, *_, instances = pipe.execute()
        rids = self._roster_ids(meeting_id, 0, -1)
        keys = self._keys_of(meeting_id, rids, instances)
        with self.redis.pipeline(transaction=False) as pipe:
            for name in keys:
                pipe.expireat(name, expire_at)
            pipe.execute()
        return not existed

    def _keys_of(self, meeting_id: str, rids: Iterable[str], instances: Iterable[str]
                 ) -> list[str]:
        """Every key of a meeting but its hash: the one-per-meeting keys, each registrant's
        hash and overflow, and each instance's stays and their counts."""
        rids, instances = list(rids), list(instances)
        return (self.keys.of_meeting(meeting_id)
                + [self.keys.registrant(meeting_id, rid) for rid in rids]
                + [self.keys.overflow(meeting_id, rid) for rid in rids]
                + [self.keys.stays(meeting_id, uuid) for uuid in instances]
                + [self.keys.stay_counts(meeting_id, uuid) for uuid in instances])

    @translated
    def clear_cohort(self, meeting_id: str) -> int:
        """Forget a meeting's registrants and everything that happened (links, history, stays,
        reports), keeping the meeting and its staff: its old links then answer 404. Returns
        the number of registrants forgotten."""
        instances = self.redis.hkeys(self.keys.instances(meeting_id))
        rids = self._roster_ids(meeting_id, 0, -1)
        keep = {self.keys.staff(meeting_id)}
        doomed = [key for key in self._keys_of(meeting_id, rids, instances) if key not in keep]
        doomed += list(self.redis.scan_iter(match=self.keys.idempotency(meeting_id, "*"),
                                            count=1000))
        with self.redis.pipeline(transaction=False) as pipe:
            for key in doomed:
                pipe.delete(key)          # one key per command: every key of one slot anyway
            pipe.execute()
        return len(rids)

    @translated
    def delete_meeting(self, meeting_id: str) -> bool:
        """Forget a meeting and everything of it; False when there was none."""
        existed = bool(self.redis.exists(self.keys.meeting(meeting_id)))
        self.clear_cohort(meeting_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.keys.staff(meeting_id))
            pipe.delete(self.keys.meeting(meeting_id))
            pipe.srem(self.keys.meetings(), meeting_id)     # another slot: its own command
            pipe.execute()
        return existed

    @translated
    def meeting(self, meeting_id: str) -> Meeting:
        """The meeting; NotFound when there is none."""
        fields = self.redis.hgetall(self.keys.meeting(meeting_id))
        if not fields:
            raise NotFound(f"no meeting {meeting_id}")
        return meeting_from_hash(meeting_id, fields)

    @translated
    def staff(self, meeting_id: str) -> set[str]:
        """Casefolded emails and Zoom user ids of the meeting's staff."""
        return set(self.redis.smembers(self.keys.staff(meeting_id)))

    @translated
    def meeting_ids(self) -> list[str]:
        """Meetings that still exist (members whose meeting expired are dropped)."""
        ids = sorted(self.redis.smembers(self.keys.meetings()))
        with self.redis.pipeline(transaction=False) as pipe:
            for meeting_id in ids:
                pipe.exists(self.keys.meeting(meeting_id))
            alive = pipe.execute()
        gone = [meeting_id for meeting_id, exists in zip(ids, alive) if not exists]
        if gone:
            self.redis.srem(self.keys.meetings(), *gone)
        return [meeting_id for meeting_id, exists in zip(ids, alive) if exists]

    # Registrants

    @translated
    def upsert_registrants(self, meeting_id: str, rows: Iterable[tuple[str, str, str, str, str]]
                           ) -> list[tuple[int, str, bool]]:
        """Create or update registrants ``(rid, email, name, zoom_id, join_url)`` in order.
        Returns ``(version, display name, created)`` per row. Each batch of UPSERT_CHUNK rows is
        one script call (atomic); a rerun after a failure is harmless (upserts are idempotent)."""
        rows = list(rows)
        k = self.keys
        results: list[tuple[int, str, bool]] = []
        head = [k.meeting(meeting_id), k.displays(meeting_id), k.zoom_ids(meeting_id),
                k.roster(meeting_id), k.name_suffixes(meeting_id)]
        for start in range(0, len(rows), UPSERT_CHUNK):
            batch = rows[start:start + UPSERT_CHUNK]
            flat = self.scripts["upsert"](
                keys=head + [k.registrant(meeting_id, row[0]) for row in batch],
                args=[value for row in batch for value in row])
            results += [(int(flat[i]), flat[i + 1], bool(flat[i + 2]))
                        for i in range(0, len(flat), 3)]
        return results

    @translated
    def registrant(self, meeting_id: str, rid: str) -> Registrant | None:
        """The registrant, or None when there is none."""
        fields = self.redis.hgetall(self.keys.registrant(meeting_id, rid))
        return registrant_from_hash(rid, fields) if fields else None

    def _feed(self, meeting_id: str,
              entries: list[tuple[str, dict[str, str]]]) -> list[FeedEvent]:
        """Stream entries as FeedEvents, their user agent ids replaced by the user agents (ids
        are stored once per meeting; an organizer action carries its actor there instead)."""
        ids = sorted({fields.get("ua", "") for _, fields in entries} - {""})
        found = dict(zip(ids, self.redis.hmget(self.keys.user_agents(meeting_id), ids))
                     ) if ids else {}
        return [feed_event(event_id, {**fields, "ua": found.get(fields.get("ua", "")) or
                                      fields.get("ua", "")}) for event_id, fields in entries]

    @translated
    def history(self, meeting_id: str, rid: str) -> list[HistoryEntry]:
        """The link's history, oldest first: what the meeting's feed holds about it (its first
        LINK_FEED_BUDGET opens and claims, as many refusals, as many move events, organizer
        actions, sends) and its overflow (the newest LINK_OVERFLOW_CAP events past a budget).
        Reads the whole feed, a thousand entries a round trip: for ``links show`` and the API,
        never a hot path. The feed's times are its entry ids' milliseconds, the overflow's
        Redis's microseconds: two events of one link within the same millisecond, one in each,
        may be listed in either order."""
        found, after = [], "-"
        while True:
            entries = self.redis.xrange(self.keys.events(meeting_id), after, "+", count=1000)
            mine = [(event_id, fields) for event_id, fields in entries     # gate events only
                    if fields.get("registrant") == rid and "instance" not in fields]
            found += [HistoryEntry(event.kind, event.at, event.ip, event.user_agent)
                      for event in self._feed(meeting_id, mine)]
            if len(entries) < 1000:
                break
            after = "(" + entries[-1][0]
        overflow = self.redis.lrange(self.keys.overflow(meeting_id, rid), 0, -1)
        return sorted(found + [overflow_entry(line) for line in overflow],
                      key=lambda entry: entry.at)

    @translated
    def registrants(self, meeting_id: str, offset: int = 0,
                    limit: int | None = None) -> list[Registrant]:
        """Registrants of a meeting in order of first issue: all of them, or
        ``limit`` from ``offset`` on. Two round trips."""
        last = -1 if limit is None else offset + limit - 1
        rids = self._roster_ids(meeting_id, offset, last)
        with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hgetall(self.keys.registrant(meeting_id, rid))
            rows = pipe.execute()
        return [registrant_from_hash(rid, fields) for rid, fields in zip(rids, rows) if fields]

    # The gate

    @translated
    def gate(self, mode: str, meeting_id: str, rid: str, version: int, now: float,
             presented_device: str, new_device: str, ip: str, user_agent: str) -> GateResult:
        """Run gate.lua (one round trip); see its header for what it reads and writes.

        With ``wait_replicas`` (REDIS_WAIT_REPLICAS), a claim sends ``WAIT wait_replicas
        wait_ms`` in the same send as the script (still one round trip): Redis answers once that
        many replicas hold every write of this connection, the claim's included, or the time
        is up. A claim that bound or rejoined a device with fewer acknowledgements raises
        NotReplicated (the primary holds the binding; the browser gets no redirect). A refused
        claim is answered as it is (its write is evidence, not a promise), and opens never
        wait (they bind nothing). ``mode`` is open (GET/HEAD: records the open, binds nothing)
        or claim (POST)."""
        k = self.keys
        keys = [k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id),
                k.user_agents(meeting_id), k.overflow(meeting_id, rid)]
        args = [mode, version, repr(now), presented_device, new_device, ip, user_agent,
                LINK_FEED_BUDGET, user_agent_id(user_agent), LINK_OVERFLOW_CAP]
        if mode == "claim" and self.wait_replicas:
            outcome, detail, meeting, shown = self._claim_replicated(keys, args)
        else:
            outcome, detail, meeting, shown = self._hot_script("gate", keys, args)
        result = GateOutcome(outcome)
        if result is GateOutcome.UNKNOWN:
            return GateResult(result)
        return GateResult(
            result, gate_meeting(meeting_id, tuple(meeting)),
            display_name=shown[0] or "", join_url=shown[1] if len(shown) > 1 else "",
            device_id=detail if result.redirects else "",
            at=float(detail) if result in (GateOutcome.TOO_EARLY, GateOutcome.EXPIRED) else 0.0,
            bound_here=result is GateOutcome.USED_ELSEWHERE and detail == "here")

    @translated
    def record_event(self, meeting_id: str, rid: str, kind: str, note: str) -> None:
        """Append an organizer-facing event about one registrant to the meeting's stream (its
        ``ua`` field carries the note, as it carries the actor of organizer actions)."""
        name = self.keys.events(meeting_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(name, {"kind": kind, "registrant": rid, "ip": "", "ua": note[:300]})
            pipe.hget(self.keys.meeting(meeting_id), "expire_at")
            _, expire_at = pipe.execute()
        if expire_at is not None:
            self.redis.expireat(name, int(expire_at))

    def _claim_replicated(self, keys: list[str], args: list[Any]) -> list:
        """gate.lua then WAIT, pipelined in one send; a script Redis lost (SCRIPT FLUSH, a
        promoted replica) is loaded once and the pair sent again."""
        script = self.scripts["gate"]
        for attempt in range(2):
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
                pipe.execute_command("WAIT", self.wait_replicas, self.wait_ms)
                result, acknowledged = pipe.execute(raise_on_error=False)
            if not (isinstance(result, redis.exceptions.NoScriptError) and attempt == 0):
                break
            script.sha = self.redis.script_load(script.script)
        for answer in (result, acknowledged):
            if isinstance(answer, Exception):
                raise answer
        if result[0] in ("claimed", "rejoined") and int(acknowledged) < self.wait_replicas:
            raise NotReplicated(
                f"{int(acknowledged)} of {self.wait_replicas} replicas acknowledged the claim "
                f"within {self.wait_ms} ms", device_id=result[1],
                acknowledged=int(acknowledged), wanted=self.wait_replicas)
        return result

    @translated
    def manage(self, action: str, meeting_id: str, rid: str, now: float, actor: str) -> int:
        """Run manage.lua: revoke, reset or reissue one link. Returns the link's version."""
        k = self.keys
        return int(self.scripts["manage"](
            keys=[k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id)],
            args=[action, actor]))

    # Webhooks

    @translated
    def record_participant(self, event: ParticipantEvent, now: float) -> str:
        """Run participant.lua for one verified delivery (one round trip); returns recorded,
        duplicate or unknown_meeting. Past the participant's or the instance's budget
        (STAYS_PER_PARTICIPANT; STAYS_PER_INSTANCE plus STAYS_PER_REGISTRANT for each
        registrant of the meeting; TIMES_PER_STAY) the delivery is folded
        (see the script's header): still counted, in the feed only one every FOLD_FEED_EVERY
        seconds per instance."""
        k, mid = self.keys, event.meeting_id
        return str(self._hot_script(
            "participant", [k.meeting(mid), k.seen(mid), k.stays(mid, event.instance),
                            k.instances(mid), k.events(mid), k.stay_counts(mid, event.instance),
                            k.displays(mid), k.checks(mid)],
            [event.digest(), event.kind, event.stay_key, event.instance, repr(event.at),
             repr(now), event.user_name, event.participant_uuid, event.registrant_id,
             event.customer_key, event.email, event.participant_id, int(event.is_host),
             STAYS_PER_PARTICIPANT, STAYS_PER_INSTANCE, TIMES_PER_STAY, FOLD_INTERVALS,
             FOLD_MEMBERS, HANDOVER, FOLD_FEED_EVERY, STAYS_PER_REGISTRANT]))

    @translated
    def record_instance(self, meeting_id: str, instance: str, kind: str, at: float) -> bool:
        """meeting.started / meeting.ended: open or close one instance (instance.lua, one round
        trip). False for a meeting joingate does not know."""
        k = self.keys
        return bool(self.scripts["instance"](
            keys=[k.meeting(meeting_id), k.instances(meeting_id), k.ended(meeting_id)],
            args=[kind, instance, repr(at)]))

    @translated
    def attendance(self, meeting_id: str) -> tuple[list[Instance], list[Stay]]:
        """Everything the report derives from: the meeting's instances and every stay of each
        (a participant's stays past its budget as its fold's stays: folds.fold_stays). Two
        round trips."""
        k = self.keys
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.instances(meeting_id))
            pipe.hgetall(k.ended(meeting_id))
            starts, ends = pipe.execute()
        with self.redis.pipeline(transaction=False) as pipe:
            for uuid in starts:
                pipe.hgetall(k.stays(meeting_id, uuid))
            stays = pipe.execute()
        instances = [Instance(uuid, float(at), float(ends[uuid]) if uuid in ends else None)
                     for uuid, at in starts.items()]
        found: list[Stay] = []
        for uuid, raws in zip(starts, stays):
            for key, raw in raws.items():
                if is_fold(key):          # a participant's stays past its budget
                    found += fold_stays(fold_from_json(uuid, key, raw), float(starts[uuid]))
                else:
                    found.append(stay_from_json(uuid, key, raw))
        return instances, found

    # The organizer API

    @translated
    def registrant_count(self, meeting_id: str) -> int:
        try:
            return int(self.redis.llen(self.keys.roster(meeting_id)))
        except redis.exceptions.ResponseError:       # WRONGTYPE: a roster stored before 2026-11
            return int(self.redis.zcard(self.keys.roster(meeting_id)))

    def _roster_ids(self, meeting_id: str, start: int, stop: int) -> list[str]:
        """Registrant ids ``start`` to ``stop`` (inclusive, -1: the last) in order of issue."""
        try:
            return self.redis.lrange(self.keys.roster(meeting_id), start, stop)
        except redis.exceptions.ResponseError:       # WRONGTYPE: a roster stored before 2026-11
            return self.redis.zrange(self.keys.roster(meeting_id), start, stop)

    @translated
    def events_page(self, meeting_id: str, after: str, limit: int
                    ) -> list[tuple[FeedEvent, str]]:
        """Events after stream id ``after`` (oldest first), each with its registrant's email."""
        return self._with_emails(meeting_id, self._feed(meeting_id, self.redis.xrange(
            self.keys.events(meeting_id), f"({after}", "+", count=limit)))

    @translated
    def latest_events(self, meeting_id: str, count: int) -> list[tuple[FeedEvent, str]]:
        """The ``count`` newest events of the meeting's feed, newest first, each with its
        registrant's email (the dashboard's activity list; the first id tells whether anything
        happened since a given one)."""
        return self._with_emails(meeting_id, self._feed(meeting_id, self.redis.xrevrange(
            self.keys.events(meeting_id), "+", "-", count=count)))

    def _with_emails(self, meeting_id: str,
                     events: list[FeedEvent]) -> list[tuple[FeedEvent, str]]:
        rids = sorted({event.registrant for event in events} - {""})
        with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hget(self.keys.registrant(meeting_id, rid), "email")
            emails = dict(zip(rids, pipe.execute()))
        return [(event, emails.get(event.registrant) or "") for event in events]

    @translated
    def record_action(self, meeting_id: str, kind: str, actor: str) -> None:
        """Append an organizer's action on the whole meeting (``import``: registrants added)
        to its event feed, ``actor`` where an action on a link keeps it (manage.lua). Two round
        trips; NotFound when there is no meeting."""
        expire_at = self.redis.hget(self.keys.meeting(meeting_id), "expire_at")
        if expire_at is None:
            raise NotFound(f"no meeting {meeting_id}")
        name = self.keys.events(meeting_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(name, {"kind": kind, "registrant": "", "ip": "", "ua": actor})
            pipe.expireat(name, int(expire_at))
            pipe.execute()

    @translated
    def idempotency_begin(self, meeting_id: str, key_digest: str,
                          request_digest: str) -> str | None:
        """Claim an Idempotency-Key for this request; returns None when claimed, else what is
        stored under it ("pending:<digest>" while the first request runs, or its JSON answer)."""
        name = self.keys.idempotency(meeting_id, key_digest)
        if self.redis.set(name, f"pending:{request_digest}", nx=True, ex=120):
            return None
        return self.redis.get(name) or ""

    @translated
    def idempotency_finish(self, meeting_id: str, key_digest: str, answer: str | None) -> None:
        """Store the answer for 24 hours, or release the key (None) after a failure."""
        name = self.keys.idempotency(meeting_id, key_digest)
        if answer is None:
            self.redis.delete(name)
        else:
            self.redis.set(name, answer, ex=86400)

    @translated
    def api_token(self, digest: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.api_tokens(), digest)
        return json.loads(raw) if raw else None

    @translated
    def save_api_token(self, digest: str, record: dict[str, Any], ttl: int) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.api_tokens(), digest, json.dumps(record))
            pipe.expire(self.keys.api_tokens(), ttl, gt=True)
            pipe.expire(self.keys.api_tokens(), ttl, nx=True)
            pipe.execute()

    @translated
    def has_api_tokens(self) -> bool:
        return bool(self.redis.exists(self.keys.api_tokens()))

    @translated
    def api_token_records(self) -> dict[str, dict[str, Any]]:
        return {digest: json.loads(raw)
                for digest, raw in self.redis.hgetall(self.keys.api_tokens()).items()}

    @translated
    def delete_api_token(self, digest: str) -> bool:
        return bool(self.redis.hdel(self.keys.api_tokens(), digest))

    # Dashboard sessions

    @translated
    def save_organizer_session(self, digest: str, record: dict[str, Any], ttl: int | None
                               ) -> None:
        """Store a session for ``ttl`` seconds; ``ttl`` None keeps the expiry it has."""
        name = self.keys.organizer_session(digest)
        if ttl is None:
            self.redis.set(name, json.dumps(record), keepttl=True, xx=True)
        else:
            self.redis.set(name, json.dumps(record), ex=ttl)

    @translated
    def organizer_session(self, digest: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.organizer_session(digest))
        return json.loads(raw) if raw else None

    @translated
    def delete_organizer_session(self, digest: str) -> None:
        self.redis.delete(self.keys.organizer_session(digest))

    # The worker's reads and writes (not on any request path)

    @translated
    def events_after(self, meeting_id: str, cursor: str | None,
                     count: int = 500) -> tuple[str, list[FeedEvent]]:
        """Events of the meeting's stream after ``cursor`` (the stored cursor when None).
        Returns (cursor as stored, events)."""
        if cursor is None:
            cursor = self.redis.get(self.keys.cursor(meeting_id)) or "0-0"
        entries = self.redis.xrange(self.keys.events(meeting_id), f"({cursor}", "+", count=count)
        return cursor, self._feed(meeting_id, entries)

    @translated
    def save_cursor(self, meeting_id: str, cursor: str) -> None:
        expire_at = self.redis.hget(self.keys.meeting(meeting_id), "expire_at")
        if expire_at is not None:
            self.redis.set(self.keys.cursor(meeting_id), cursor, exat=int(expire_at))

    @translated
    def due_checks(self, meeting_id: str, now: float) -> list[str]:
        return self.redis.zrangebyscore(self.keys.checks(meeting_id), "-inf", now, start=0,
                                        num=100)

    @translated
    def schedule_check(self, meeting_id: str, instance: str, at: float) -> None:
        """Check ``instance`` at ``at`` or earlier (an earlier check already due is kept)."""
        name = self.keys.checks(meeting_id)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(name, {instance: at}, lt=True)    # LT still adds a new member
            pipe.hget(self.keys.meeting(meeting_id), "expire_at")
            *_, expire_at = pipe.execute()
        if expire_at is not None:
            self.redis.expireat(name, int(expire_at))

    @translated
    def reschedule_check(self, meeting_id: str, instance: str, at: float) -> None:
        """Move the check of ``instance`` to ``at`` (a check that is due now, done again)."""
        self.redis.zadd(self.keys.checks(meeting_id), {instance: at}, xx=True)

    @translated
    def done_check(self, meeting_id: str, member: str) -> None:
        self.redis.zrem(self.keys.checks(meeting_id), member)

    @translated
    def add_violation(self, meeting_id: str, key: str, record: dict[str, Any]) -> bool:
        """Record a violation once; False when ``key`` was recorded before."""
        name = self.keys.violations(meeting_id)
        with self.redis.pipeline() as pipe:
            pipe.hsetnx(name, key, json.dumps(record, ensure_ascii=False))
            pipe.hget(self.keys.meeting(meeting_id), "expire_at")
            added, expire_at = pipe.execute()
        if expire_at is not None:
            self.redis.expireat(name, int(expire_at))
        return bool(added)

    @translated
    def violation(self, meeting_id: str, key: str) -> dict[str, Any] | None:
        """The violation recorded under ``key``, or None."""
        raw = self.redis.hget(self.keys.violations(meeting_id), key)
        return json.loads(raw) if raw else None

    @translated
    def violations(self, meeting_id: str) -> list[dict[str, Any]]:
        rows = self.redis.hvals(self.keys.violations(meeting_id))
        return sorted((json.loads(row) for row in rows), key=lambda row: row.get("at", 0))

    def _outbox(self, action: str, now: float, *args: Any) -> Any:
        k = self.keys
        return self.scripts["outbox"](
            keys=[k.outbox(), k.outbox_due(), k.outbox_owners(), k.outbox_done()],
            args=[action, repr(now), OUTBOX_TTL, *args])

    @translated
    def enqueue(self, job_id: str, job: dict[str, Any], at: float, now: float | None = None,
                replace: bool = False) -> bool:
        """Queue an outbound job (alert, Zoom action, send, move code), due at ``at``; ``now``
        is the time of queueing (``at`` when not given). A job id is taken once: False
        (nothing changes) when the job was finished already, or is queued and ``replace`` (a
        retry, which also gives up the lease) is False."""
        return bool(self._outbox("enqueue", at if now is None else now, job_id,
                                 json.dumps(job, ensure_ascii=False), repr(at), int(replace)))

    @translated
    def lease_jobs(self, worker: str, now: float, limit: int,
                   lease: float) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` due jobs, now held by ``worker`` until ``now + lease``: no other
        worker gets them unless the lease runs out (the worker died or stopped renewing)."""
        flat = self._outbox("lease", now, worker, limit, lease)
        return [(flat[i], json.loads(flat[i + 1])) for i in range(0, len(flat), 2)]

    @translated
    def renew_leases(self, worker: str, job_ids: Iterable[str], now: float,
                     lease: float) -> int:
        """Extend to ``now + lease`` the leases ``worker`` still holds among ``job_ids``."""
        job_ids = list(job_ids)
        return int(self._outbox("renew", now, worker, lease, *job_ids)) if job_ids else 0

    @translated
    def finish_job(self, job_id: str, now: float) -> None:
        """The job is done: remove it, and refuse to queue it again for OUTBOX_TTL."""
        self._outbox("finish", now, job_id)

    # Sending the links (send.lua holds the lock check and every write)

    def _send_keys(self, meeting_id: str) -> list[str]:
        k = self.keys
        return [k.meeting(meeting_id), k.sends(meeting_id), k.send_problems(meeting_id),
                k.send_run(meeting_id), k.send_lock(meeting_id)]

    @translated
    def send_begin(self, meeting_id: str, run: SendRun, lifetime: int, now: float,
                   take_over: str) -> str | None:
        """Take the meeting's send lock for ``run`` (a free lock, or ``take_over``'s) and
        make it the meeting's latest run. Returns None when taken, else the holder's run id."""
        taken, holder = self.scripts["send"](
            keys=self._send_keys(meeting_id),
            args=["begin", run.id, lifetime, repr(now), take_over,
                  *[part for pair in send_run_to_hash(run).items() for part in pair]])
        return None if int(taken) else holder

    @translated
    def send_record(self, meeting_id: str, run_id: str, lifetime: int, now: float, rid: str,
                    record: SendRecord | None, counters: dict[str, int]) -> None:
        """Write one registrant's record (or none) and add ``counters`` to the run's progress;
        renews the lock. Raises SendBusy when another run holds the meeting now."""
        try:
            self.scripts["send"](
                keys=self._send_keys(meeting_id),
                args=["record", run_id, lifetime, repr(now), rid if record else "",
                      send_record_to_json(record) if record else "",
                      record.state if record else "",
                      *[str(part) for pair in counters.items() for part in pair]])
        except redis.exceptions.ResponseError as exc:
            if "LOSTLOCK" in str(exc):
                raise SendBusy(f"another sender took over meeting {meeting_id}") from None
            raise

    @translated
    def send_finish(self, meeting_id: str, run_id: str, now: float, state: str,
                    error: str = "") -> None:
        """Write the run's final state and release the lock (if this run still holds it)."""
        self.scripts["send"](keys=self._send_keys(meeting_id),
                             args=["finish", run_id, 0, repr(now), state, error])

    @translated
    def send_lock_holder(self, meeting_id: str) -> str | None:
        return self.redis.get(self.keys.send_lock(meeting_id))

    @translated
    def send_records(self, meeting_id: str, rids: list[str]) -> dict[str, SendRecord]:
        """The records of these registrants (those with one)."""
        if not rids:
            return {}
        raws = self.redis.hmget(self.keys.sends(meeting_id), rids)
        return {rid: send_record_from_json(raw) for rid, raw in zip(rids, raws) if raw}

    @translated
    def all_send_records(self, meeting_id: str) -> dict[str, SendRecord]:
        """Every record of the meeting (for the report: one read of the whole hash)."""
        return {rid: send_record_from_json(raw)
                for rid, raw in self.redis.hgetall(self.keys.sends(meeting_id)).items()}

    @translated
    def send_problem_records(self, meeting_id: str, limit: int) -> dict[str, SendRecord]:
        """Up to ``limit`` registrants whose latest send bounced, failed or had no address."""
        found: dict[str, SendRecord] = {}
        for rid, raw in self.redis.hscan_iter(self.keys.send_problems(meeting_id), count=200):
            found[rid] = send_record_from_json(raw)
            if len(found) >= limit:
                break
        return found

    @translated
    def emails_of(self, meeting_id: str, rids: list[str]) -> dict[str, str]:
        """The email of each of these registrants (one round trip)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hget(self.keys.registrant(meeting_id, rid), "email")
            return {rid: email or "" for rid, email in zip(rids, pipe.execute())}

    @translated
    def queued_jobs(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Outbox jobs of one kind not done yet (the outbox holds few: alerts, actions, sends)."""
        return [(job_id, job) for job_id, job in
                ((job_id, json.loads(raw)) for job_id, raw in
                 self.redis.hgetall(self.keys.outbox()).items()) if job.get("kind") == kind]

    @translated
    def send_progress(self, meeting_id: str) -> SendRun | None:
        """The latest run's progress (None when the meeting was never sent)."""
        fields = self.redis.hgetall(self.keys.send_run(meeting_id))
        return send_run_from_hash(fields) if fields else None

    # Moving a link to a new device by emailed code (move.lua: every step and its log line)

    @translated
    def move(self, action: str, meeting_id: str, rid: str, now: float, ip: str,
             user_agent: str, *args: Any) -> list[Any]:
        """Run move.lua's ``action`` (see its header for the arguments and the answer); ``ip``
        and ``user_agent`` go into the event it logs."""
        k = self.keys
        return self.scripts["move"](
            keys=[k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id),
                  k.user_agents(meeting_id), k.move_code(meeting_id, rid),
                  k.overflow(meeting_id, rid)],
            args=[action, repr(now), ip, user_agent, user_agent_id(user_agent),
                  *[str(arg) for arg in args], LINK_FEED_BUDGET, LINK_OVERFLOW_CAP])


def _lua(name: str) -> str:
    return resources.files("joingate.lua").joinpath(f"{name}.lua").read_text(encoding="utf-8")
