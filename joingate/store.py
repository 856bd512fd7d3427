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
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Iterable, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import NotFound, StorageUnavailable

EVENT_STREAM_CAP = 50_000
ID_KEY_TTL = 10 * 365 * 86400      # renewed by every process that reads it
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

    def stays_by_registrant(self, meeting_id: str, instance: str) -> str:
        return f"{self._m(meeting_id)}:rstays:{instance}"

    def checks(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:checks"

    def violations(self, meeting_id: str) -> str:
        return f"{self._m(meeting_id)}:violations"

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

    def outbox(self) -> str:
        """Outbound jobs (alerts, Zoom actions): hash job id -> JSON."""
        return f"{self.prefix}:{{outbox}}:jobs"

    def outbox_due(self) -> str:
        """When each outbound job is next tried: sorted set job id -> unix time."""
        return f"{self.prefix}:{{outbox}}:due"


@dataclass(frozen=True)
class GateResult:
    """What gate.lua decided. ``detail`` is the bound device id (claimed, rejoined), the opening
    or closing time (too_early, expired), or the current version (superseded)."""

    outcome: str
    detail: str
    meeting: dict[str, str]
    display: str
    join_url: str


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


def event_time(event_id: str, fields: dict[str, str]) -> str:
    """When an event happened: its ``at`` field (Zoom's time) or its stream id (ms)."""
    return fields.get("at") or str(int(event_id.split("-", 1)[0]) / 1000)


# The meeting fields gate.lua returns, in its order.
GATE_MEETING_FIELDS = ("start", "open_before", "duration", "close_after", "expire_at",
                       "max_devices", "rejoin", "target", "pwd", "topic", "support",
                       "auto_submit")


class Store:
    """Domain-level reads and writes; each method is one round trip unless it says otherwise."""

    def __init__(self, client: redis.Redis, prefix: str = "jg") -> None:
        self.redis = client
        self.keys = Keys(prefix)
        self.scripts = {name: client.register_script(_lua(name))
                        for name in ("gate", "upsert", "manage", "participant", "instance")}

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
    def save_meeting(self, meeting_id: str, fields: dict[str, Any],
                     staff: Iterable[str] | None = None) -> bool:
        """Create or update a meeting; returns True when it was created. ``staff`` (casefolded
        names and emails never flagged) replaces the stored list unless None. Moves the expiry
        of every key of the meeting to the (possibly new) ``expire_at``."""
        key = self.keys.meeting(meeting_id)
        expire_at = int(fields["expire_at"])
        with self.redis.pipeline(transaction=False) as pipe:   # the meetings set: another slot
            pipe.exists(key)
            pipe.hset(key, mapping={name: str(value) for name, value in fields.items()})
            pipe.expireat(key, expire_at)
            pipe.sadd(self.keys.meetings(), meeting_id)
            pipe.expireat(self.keys.meetings(), expire_at, gt=True)
            pipe.expireat(self.keys.meetings(), expire_at, nx=True)
            staff = None if staff is None else list(staff)
            if staff is not None:
                pipe.delete(self.keys.staff(meeting_id))
                if staff:
                    pipe.sadd(self.keys.staff(meeting_id), *staff)
            pipe.zrange(self.keys.roster(meeting_id), 0, -1)
            pipe.hkeys(self.keys.instances(meeting_id))
            existed, *_, rids, instances = pipe.execute()
        keys = [self.keys.displays(meeting_id), self.keys.zoom_ids(meeting_id),
                self.keys.roster(meeting_id), self.keys.events(meeting_id),
                self.keys.staff(meeting_id), self.keys.seen(meeting_id),
                self.keys.user_agents(meeting_id),
                self.keys.instances(meeting_id), self.keys.ended(meeting_id),
                self.keys.checks(meeting_id), self.keys.violations(meeting_id),
                self.keys.cursor(meeting_id)]
        keys += [self.keys.stays(meeting_id, uuid) for uuid in instances]
        keys += [self.keys.stays_by_registrant(meeting_id, uuid) for uuid in instances]
        for rid in rids:
            keys.append(self.keys.registrant(meeting_id, rid))
        with self.redis.pipeline(transaction=False) as pipe:
            for name in keys:
                pipe.expireat(name, expire_at)
            pipe.execute()
        return not existed

    @translated
    def meeting(self, meeting_id: str) -> dict[str, str]:
        fields = self.redis.hgetall(self.keys.meeting(meeting_id))
        if not fields:
            raise NotFound(f"no meeting {meeting_id}")
        return fields

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
    def registrant(self, meeting_id: str, rid: str) -> dict[str, str]:
        fields = self.redis.hgetall(self.keys.registrant(meeting_id, rid))
        if not fields:
            raise NotFound(f"no registrant {rid} in meeting {meeting_id}")
        return fields

    @translated
    def registrant_or_none(self, meeting_id: str, rid: str) -> dict[str, str] | None:
        return self.redis.hgetall(self.keys.registrant(meeting_id, rid)) or None

    @translated
    def zoom_id_of(self, meeting_id: str, rid: str) -> str:
        return self.redis.hget(self.keys.registrant(meeting_id, rid), "zid") or ""

    def _user_agents(self, meeting_id: str,
                     entries: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict]]:
        """Events with their user agent ids replaced by the user agents (ids are stored once
        per meeting; an event of an organizer action carries its actor there instead)."""
        ids = sorted({fields.get("ua", "") for _, fields in entries} - {""})
        if not ids:
            return entries
        found = dict(zip(ids, self.redis.hmget(self.keys.user_agents(meeting_id), ids)))
        return [(event_id, {**fields, "ua": found.get(fields.get("ua", "")) or
                            fields.get("ua", "")}) for event_id, fields in entries]

    @translated
    def history(self, meeting_id: str, rid: str) -> list[list[str]]:
        """The link's history, oldest first: ``[kind, at, ip, user agent]`` each, read from the
        meeting's event stream (an entry's id is its time in ms). Reads the whole stream, a
        thousand entries a round trip: for ``links show`` and the API, never a hot path."""
        found, after = [], "-"
        while True:
            entries = self.redis.xrange(self.keys.events(meeting_id), after, "+", count=1000)
            mine = [(event_id, fields) for event_id, fields in entries     # gate events only
                    if fields.get("registrant") == rid and "instance" not in fields]
            for event_id, fields in self._user_agents(meeting_id, mine):
                found.append([fields.get("kind", ""), event_time(event_id, fields),
                              fields.get("ip", ""), fields.get("ua", "")])
            if len(entries) < 1000:
                return found
            after = "(" + entries[-1][0]

    @translated
    def registrants(self, meeting_id: str, offset: int = 0,
                    limit: int | None = None) -> list[tuple[str, dict[str, str]]]:
        """Registrants of a meeting in order of first issue, ``(rid, fields)``: all of them, or
        ``limit`` from ``offset`` on. Two round trips."""
        last = -1 if limit is None else offset + limit - 1
        rids = self.redis.zrange(self.keys.roster(meeting_id), offset, last)
        with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hgetall(self.keys.registrant(meeting_id, rid))
            rows = pipe.execute()
        return [(rid, fields) for rid, fields in zip(rids, rows) if fields]

    # The gate

    @translated
    def gate(self, mode: str, meeting_id: str, rid: str, version: int, now: float,
             presented_device: str, new_device: str, ip: str, user_agent: str) -> GateResult:
        """Run gate.lua (one round trip); see its header for what it reads and writes."""
        k = self.keys
        outcome, detail, meeting, shown = self.scripts["gate"](
            keys=[k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id),
                  k.user_agents(meeting_id)],
            args=[mode, version, repr(now), presented_device, new_device, ip, user_agent,
                  EVENT_STREAM_CAP, user_agent_id(user_agent)])
        return GateResult(outcome, detail or "",
                          {name: value for name, value in zip(GATE_MEETING_FIELDS, meeting)
                           if value is not None},
                          shown[0] if shown else "", shown[1] if len(shown) > 1 else "")

    @translated
    def manage(self, action: str, meeting_id: str, rid: str, now: float, actor: str) -> int:
        """Run manage.lua: revoke, reset or reissue one link. Returns the link's version."""
        k = self.keys
        return int(self.scripts["manage"](
            keys=[k.meeting(meeting_id), k.registrant(meeting_id, rid), k.events(meeting_id)],
            args=[action, actor, EVENT_STREAM_CAP]))

    # Webhooks

    @translated
    def record_participant(self, event: Any, *, customer_rid: str, email_rid: str,
                           name_key: str, email_key: str, now: float, grace: float) -> list:
        """Run participant.lua for a ParticipantEvent; returns [status, registrant id, open]."""
        k, mid = self.keys, event.meeting_id
        status, rid, open_stays = self.scripts["participant"](
            keys=[k.meeting(mid), k.seen(mid), k.stays(mid, event.instance),
                  k.stays_by_registrant(mid, event.instance), k.instances(mid),
                  k.zoom_ids(mid), k.displays(mid), k.staff(mid),
                  k.registrant(mid, customer_rid), k.registrant(mid, email_rid),
                  k.events(mid), k.checks(mid)],
            args=[event.digest(), event.kind, event.stay_key, event.instance,
                  event.registrant_id, customer_rid, event.user_name, email_rid, repr(event.at),
                  int(event.is_host), event.participant_uuid, name_key, email_key, repr(now),
                  grace, EVENT_STREAM_CAP])
        return [status, rid, int(open_stays)]

    @translated
    def record_instance(self, meeting_id: str, instance: str, kind: str, at: float) -> bool:
        """meeting.started / meeting.ended: open or close one instance (instance.lua, one round
        trip). False for a meeting joingate does not know."""
        k = self.keys
        return bool(self.scripts["instance"](
            keys=[k.meeting(meeting_id), k.instances(meeting_id), k.ended(meeting_id)],
            args=[kind, instance, repr(at)]))

    @translated
    def attendance(self, meeting_id: str) -> tuple[dict[str, float], dict[str, float],
                                                   dict[str, list[dict]]]:
        """Everything the report derives from: instance starts, instance ends, and the stays
        of each instance (decoded). Two round trips."""
        k = self.keys
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.instances(meeting_id))
            pipe.hgetall(k.ended(meeting_id))
            starts, ends = pipe.execute()
        with self.redis.pipeline(transaction=False) as pipe:
            for uuid in starts:
                pipe.hvals(k.stays(meeting_id, uuid))
            stays = pipe.execute()
        return ({uuid: float(at) for uuid, at in starts.items()},
                {uuid: float(at) for uuid, at in ends.items()},
                {uuid: [json.loads(raw) for raw in raws] for uuid, raws in zip(starts, stays)})

    # The organizer API

    @translated
    def registrant_count(self, meeting_id: str) -> int:
        return int(self.redis.zcard(self.keys.roster(meeting_id)))

    @translated
    def events_page(self, meeting_id: str, after: str, limit: int
                    ) -> list[tuple[str, dict[str, str], str]]:
        """Events after stream id ``after`` (oldest first), each with its registrant's email."""
        entries = self._user_agents(meeting_id, self.redis.xrange(
            self.keys.events(meeting_id), f"({after}", "+", count=limit))
        rids = sorted({fields.get("registrant", "") for _, fields in entries} - {""})
        with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hget(self.keys.registrant(meeting_id, rid), "email")
            emails = dict(zip(rids, pipe.execute()))
        return [(event_id, fields, emails.get(fields.get("registrant", "")) or "")
                for event_id, fields in entries]

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

    @translated
    def stays_of(self, meeting_id: str, instance: str) -> dict[str, dict[str, Any]]:
        """Every stay of one instance by its stay key (for the live reconciliation)."""
        raw = self.redis.hgetall(self.keys.stays(meeting_id, instance))
        return {key: json.loads(value) for key, value in raw.items()}

    # The worker's reads and writes (not on any request path)

    @translated
    def events_after(self, meeting_id: str, cursor: str | None,
                     count: int = 500) -> tuple[str, list[tuple[str, dict[str, str]]]]:
        """Events of the meeting's stream after ``cursor`` (the stored cursor when None).
        Returns (cursor as stored, events)."""
        if cursor is None:
            cursor = self.redis.get(self.keys.cursor(meeting_id)) or "0-0"
        entries = self.redis.xrange(self.keys.events(meeting_id), f"({cursor}", "+", count=count)
        return cursor, self._user_agents(meeting_id, entries)

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
    def reschedule_check(self, meeting_id: str, member: str, at: float) -> None:
        self.redis.zadd(self.keys.checks(meeting_id), {member: at}, xx=True)

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
