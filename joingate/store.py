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
import threading
from importlib import resources
from typing import Any, Callable, Iterable, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import NotFound, StorageUnavailable
from .records import (FeedEvent, GateOutcome, GateResult, HistoryEntry, Instance, Meeting,
                      Registrant, Stay)
from .zoom.events import ParticipantEvent

EVENT_STREAM_CAP = 50_000
UPSERT_CHUNK = 500
OUTBOX_TTL = 30 * 86400

F = TypeVar("F", bound=Callable[..., Any])

_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
         redis.exceptions.BusyLoadingError, redis.exceptions.ReadOnlyError,
         redis.exceptions.ClusterError)


def translated(method: F) -> F:
    """Turn Redis being down or slow into StorageUnavailable, a missing object into NotFound."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except _DOWN as exc:
            raise StorageUnavailable(f"Redis did not answer: {type(exc).__name__}") from exc
        except redis.exceptions.ResponseError as exc:
            message = str(exc)
            if "NOMEETING" in message or "NOTFOUND" in message:
                raise NotFound("no such meeting or registrant") from None
            if message.startswith(("MASTERDOWN", "LOADING", "CLUSTERDOWN", "TRYAGAIN")):
                raise StorageUnavailable(f"Redis cannot serve now: {message}") from exc
            raise

    return wrapper  # type: ignore[return-value]


class Keys:
    """One builder per key."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _m(self, meeting_id: str) -> str:
        return f"{self.prefix}:{{m:{meeting_id}}}"

    def meetings(self) -> str:
        return f"{self.prefix}:meetings"

    def meeting(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:meeting"

    def registrant(self, meeting_id: str, rid: str) -> str:
        return f"{self._m(meeting_id)}:r:{rid}"

    def displays(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:displays"

    def zoom_ids(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:zids"

    def roster(self, meeting_id: str) -> str:
        """Registrant ids in order of first issue: a list (a sorted set before 2026-11; read
        either way, turned into a list by the next upsert)."""
        return f"{self._m(meeting_id)}:roster"

    def events(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:events"

    def user_agents(self, meeting_id: str) -> str:
        """User agents seen in a meeting, each stored once: hash short id -> user agent."""
        return f"{self._m(meeting_id)}:uas"

    def staff(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:staff"

    def seen(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:seen"

    def instances(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:instances"

    def ended(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:ended"

    def stays(self, meeting_id: str, instance: str) -> str:
        return f"{self._m(meeting_id)}:stays:{instance}"

    def checks(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:checks"

    def violations(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:violations"

    def cursor(self, meeting_id: str) -> str:
        """Where the worker is in the meeting's event stream."""
        return f"{self._m(meeting_id)}:cursor"

    def idempotency(self, meeting_id: str, key_digest: str) -> str:
        return f"{self._m(meeting_id)}:idem:{key_digest}"

    def api_tokens(self) -> str:
        """API tokens: hash sha256(token) -> JSON {id, name, scope, created}."""
        return f"{self.prefix}:{{api}}:tokens"

    def outbox(self) -> str:
        """Outbound jobs (alerts, Zoom actions): hash job id -> JSON."""
        return f"{self.prefix}:{{outbox}}:jobs"

    def outbox_due(self) -> str:
        """When each outbound job is next tried: sorted set job id -> unix time."""
        return f"{self.prefix}:{{outbox}}:due"


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
                       "auto_submit")

# How records are stored: the fields of the meeting hash and of a registrant hash. Only this
# module knows these names (and the Lua scripts, whose headers name them).
MEETING_FIELDS = ("topic", "start", "duration", "expire_at", "pwd", "target", "open_before",
                  "close_after", "max_devices", "rejoin", "policy", "support", "auto_submit")


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
        auto_submit=fields.get("auto_submit") == "1")


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
        claims=_int(fields.get("claims")), refused=_int(fields.get("refused")))


def stay_from_json(instance: str, key: str, raw: str) -> Stay:
    """A stay as participant.lua stores it (see its header for the short names)."""
    fields = json.loads(raw)

    def times(name: str) -> list[float]:
        value = fields.get(name)
        return sorted(float(t) for t in value) if isinstance(value, list) else []

    return Stay(key=key, instance=instance, joins=times("j"), leaves=times("l"),
                zoom_registrant_id=fields.get("zr", ""), customer_key=fields.get("ck", ""),
                email=fields.get("em", ""), zoom_user_id=fields.get("id", ""),
                user_name=fields.get("n", ""), renamed_to=fields.get("rn", ""),
                participant_uuid=fields.get("pu", ""), host=bool(fields.get("h")))


class _Lane(threading.local):
    """This thread's own connection for the hot scripts, and the process that opened it."""

    pid: int = 0
    connection: Any = None


class Store:
    """Domain-level reads and writes; each method is one round trip unless it says otherwise."""

    def __init__(self, client: redis.Redis, prefix: str = "jg") -> None:
        self.redis = client
        self.keys = Keys(prefix)
        self.scripts = {name: client.register_script(_lua(name))
                        for name in ("gate", "upsert", "manage", "participant", "instance")}
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
    def ping(self) -> None:
        """Raise StorageUnavailable unless Redis answers and accepts a write."""
        self.redis.set(f"{self.keys.prefix}:readyz", "1", ex=60)

    @translated
    def count_invalid_token(self, client: str, window: int, kind: str = "badtok") -> int:
        """Count one invalid token (``kind``: badtok for links, badapi for the API) from
        ``client`` in the current window; returns the count."""
        key = f"{self.keys.prefix}:{kind}:{client}"
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
            count, _ = pipe.execute()
        return int(count)

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
        keys = [self.keys.displays(meeting_id), self.keys.zoom_ids(meeting_id),
                self.keys.roster(meeting_id), self.keys.events(meeting_id),
                self.keys.staff(meeting_id), self.keys.seen(meeting_id),
                self.keys.user_agents(meeting_id),
                self.keys.instances(meeting_id), self.keys.ended(meeting_id),
                self.keys.checks(meeting_id), self.keys.violations(meeting_id),
                self.keys.cursor(meeting_id)]
        keys += [self.keys.stays(meeting_id, uuid) for uuid in instances]
        for rid in rids:
            keys.append(self.keys.registrant(meeting_id, rid))
        with self.redis.pipeline(transaction=False) as pipe:
            for name in keys:
                pipe.expireat(name, expire_at)
            pipe.execute()
        return not existed

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
                k.roster(meeting_id)]
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
        """The link's history, oldest first, read from the
        meeting's event stream (an entry's id is its time in ms). Reads the whole stream, a
        thousand entries a round trip: for ``links show`` and the API, never a hot path."""
        found, after = [], "-"
        while True:
            entries = self.redis.xrange(self.keys.events(meeting_id), after, "+", count=1000)
            mine = [(event_id, fields) for event_id, fields in entries     # gate events only
                    if fields.get("registrant") == rid and "instance" not in fields]
            found += [HistoryEntry(event.kind, event.at, event.ip, event.user_agent)
                      for event in self._feed(meeting_id, mine)]
            if len(entries) < 1000:
                return found
            after = "(" + entries[-1][0]

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
        ``mode`` is open (GET/HEAD: records the open, binds nothing) or claim (POST)."""
        k = self.keys
        outcome, detail, meeting, shown = self._hot_script(
            "gate", [k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id),
                     k.user_agents(meeting_id)],
            [mode, version, repr(now), presented_device, new_device, ip, user_agent,
             EVENT_STREAM_CAP, user_agent_id(user_agent)])
        result = GateOutcome(outcome)
        if result is GateOutcome.UNKNOWN:
            return GateResult(result)
        return GateResult(
            result, meeting_from_hash(meeting_id, {name: value for name, value in zip(
                GATE_MEETING_FIELDS, meeting) if value is not None}),
            display_name=shown[0] or "", join_url=shown[1] if len(shown) > 1 else "",
            device_id=detail if result.redirects else "",
            at=float(detail) if result in (GateOutcome.TOO_EARLY, GateOutcome.EXPIRED) else 0.0)

    @translated
    def manage(self, action: str, meeting_id: str, rid: str, now: float, actor: str) -> int:
        """Run manage.lua: revoke, reset or reissue one link. Returns the link's version."""
        k = self.keys
        return int(self.scripts["manage"](
            keys=[k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id)],
            args=[action, actor, EVENT_STREAM_CAP]))

    # Webhooks

    @translated
    def record_participant(self, event: ParticipantEvent, now: float) -> str:
        """Run participant.lua for one verified delivery (one round trip); returns recorded,
        duplicate or unknown_meeting."""
        k, mid = self.keys, event.meeting_id
        return str(self._hot_script(
            "participant", [k.meeting(mid), k.seen(mid), k.stays(mid, event.instance),
                            k.instances(mid), k.events(mid)],
            [event.digest(), event.kind, event.stay_key, event.instance, repr(event.at),
             repr(now), EVENT_STREAM_CAP, event.user_name, event.participant_uuid,
             event.registrant_id, event.customer_key, event.email, event.participant_id,
             int(event.is_host)]))

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
        """Everything the report derives from: the meeting's instances and every stay of each.
        Two round trips."""
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
        return instances, [stay_from_json(uuid, key, raw)
                           for uuid, raws in zip(starts, stays) for key, raw in raws.items()]

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
        entries = self._feed(meeting_id, self.redis.xrange(
            self.keys.events(meeting_id), f"({after}", "+", count=limit))
        rids = sorted({event.registrant for event in entries} - {""})
        with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hget(self.keys.registrant(meeting_id, rid), "email")
            emails = dict(zip(rids, pipe.execute()))
        return [(event, emails.get(event.registrant) or "") for event in entries]

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
    def api_token_records(self) -> dict[str, dict[str, Any]]:
        return {digest: json.loads(raw)
                for digest, raw in self.redis.hgetall(self.keys.api_tokens()).items()}

    @translated
    def delete_api_token(self, digest: str) -> bool:
        return bool(self.redis.hdel(self.keys.api_tokens(), digest))

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
    def violations(self, meeting_id: str) -> list[dict[str, Any]]:
        rows = self.redis.hvals(self.keys.violations(meeting_id))
        return sorted((json.loads(row) for row in rows), key=lambda row: row.get("at", 0))

    @translated
    def enqueue(self, job_id: str, job: dict[str, Any], at: float) -> None:
        """Put an outbound job (alert, Zoom action) in the outbox, due at ``at``."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.keys.outbox(), job_id, json.dumps(job, ensure_ascii=False))
            pipe.zadd(self.keys.outbox_due(), {job_id: at})
            pipe.expire(self.keys.outbox(), OUTBOX_TTL)
            pipe.expire(self.keys.outbox_due(), OUTBOX_TTL)
            pipe.execute()

    @translated
    def due_jobs(self, now: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
        ids = self.redis.zrangebyscore(self.keys.outbox_due(), "-inf", now, start=0, num=limit)
        if not ids:
            return []
        bodies = self.redis.hmget(self.keys.outbox(), ids)
        return [(job_id, json.loads(body)) for job_id, body in zip(ids, bodies) if body]

    @translated
    def finish_job(self, job_id: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.zrem(self.keys.outbox_due(), job_id)
            pipe.hdel(self.keys.outbox(), job_id)
            pipe.execute()


def _lua(name: str) -> str:
    return resources.files("joingate.lua").joinpath(f"{name}.lua").read_text(encoding="utf-8")
