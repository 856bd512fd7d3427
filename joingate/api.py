"""``/api/v1``: the organizer API, for a shop, an LMS or a registration form.

Bearer tokens with a scope (``read``: GET only, and never a link, which would take a seat;
``manage``: everything). Every body is validated
against the OpenAPI document's own schemas (joingate.openapi), then handed to the same service
layer the CLI uses. Errors have one shape: ``{"error", "message", "details"}``. Without
``JOINGATE_ADMIN_TOKEN`` there is no API (404).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.routing import BaseConverter

from . import openapi
from .errors import ConfigError, InvalidInput, NotFound, TemplateProblem
from .exports import write_links_csv, write_report_csv
from .json_body import read_json
from .meetings import IssuedLink, MeetingReused
from .pages import json_error as error
from .records import Meeting
from .roster import RegistrantInput, check_registrant
from .send_jobs import queue_send, send_progress
from .state import AppState
from .throttle import over_limit
from .times import iso_utc, parse_start
from .views import link_status, registrant_rows

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class EmailConverter(BaseConverter):
    """A path segment with an @: keeps /registrants/bulk from reading as an email."""

    regex = r"[^/]*@[^/]*"

READ_METHODS = frozenset({"GET", "HEAD"})


class ApiSchemas:
    """The served document and one validator per request schema, built once per app."""

    def __init__(self, join_domain: str, languages: Iterable[str]) -> None:
        self.document = openapi.document(join_domain, languages)
        registry = Registry().with_resource(
            "urn:joingate", Resource.from_contents(self.document,
                                                   default_specification=DRAFT202012))
        self.validators = {
            name: Draft202012Validator({"$ref": f"urn:joingate#/components/schemas/{name}"},
                                       registry=registry)
            for name in ("MeetingCreate", "MeetingUpdate", "RegistrantInput", "BulkInput",
                         "SendRequest")}


def _state() -> AppState:
    return current_app.extensions["joingate"]


def _schemas() -> ApiSchemas:
    return current_app.extensions["joingate_api"]


def _body(schema: str) -> Any:
    """The JSON body, valid against ``schema``; raises ApiError with every fault."""
    if not request.is_json:
        raise ApiError(error(415, "unsupported_media_type",
                             "send the body as application/json"))
    try:
        data = read_json(request.get_data(cache=False))
    except InvalidInput as exc:
        raise ApiError(error(400, "invalid_json", exc.message)) from None
    faults = []
    for fault in _schemas().validators[schema].iter_errors(data):
        path = list(fault.absolute_path)
        detail: dict[str, Any] = {"field": "/".join(str(part) for part in path) or "(body)",
                                  "message": fault_in_words(fault, schema)}
        if len(path) >= 2 and path[0] == "registrants" and isinstance(path[1], int):
            detail["index"] = path[1]
        faults.append(detail)
        if len(faults) >= 100:
            break
    if faults:
        raise ApiError(error(422, "invalid_input", f"{len(faults)} problem(s) in the body; "
                             f"first: {faults[0]['field']}: {faults[0]['message']}", faults))
    return data


SHAPES = {"object": "a JSON object", "array": "a list", "string": "text",
          "integer": "a whole number", "number": "a number", "boolean": "true or false"}
PATTERN_WORDS = {"email": "is not an email address (one @, printable ASCII, no spaces)",
                 "join_url": "must be an https:// join URL on the Zoom join domain",
                 "staff": "must be an email or a Zoom user id (never a name)",
                 "start": "must be an ISO 8601 time with a zone, like 2026-12-01T18:00:00Z",
                 "id": "must be a Zoom meeting number (6 to 15 digits)"}
EXAMPLES = {"BulkInput": 'like {"registrants": [{"email": "ana@example.org", '
                         '"name": "Ana Lima"}]}',
            "RegistrantInput": 'like {"email": "ana@example.org", "name": "Ana Lima"}'}


def fault_in_words(fault: Any, schema: str) -> str:
    """A jsonschema fault as a sentence an integrator can act on: what is wrong, in words,
    never a regular expression or an echo of the data."""
    field = str(fault.absolute_path[-1]) if fault.absolute_path else ""
    value = fault.validator_value
    if fault.validator == "type":
        wanted = value if isinstance(value, str) else value[0]
        message = f"must be {SHAPES.get(wanted, wanted)}"
        if not fault.absolute_path and schema in EXAMPLES:
            message += f", {EXAMPLES[schema]}"
        return message
    if fault.validator == "required":
        missing = [name for name in value if name not in (fault.instance or {})]
        return f"is missing {', '.join(missing)}"
    if fault.validator == "additionalProperties":
        allowed = set(fault.schema.get("properties", {}))
        extra = sorted(str(name) for name in fault.instance if name not in allowed)
        return f"has unknown field(s): {', '.join(extra)[:200]}"
    if fault.validator == "pattern":
        key = "staff" if "staff" in [str(part) for part in fault.absolute_path] else field
        return PATTERN_WORDS.get(key, "has characters that are not allowed here (white "
                                      "space or control characters)")
    if fault.validator in ("maxLength", "minLength"):
        return (f"must be at most {value} characters" if fault.validator == "maxLength"
                else f"must be at least {value} character(s)")
    if fault.validator in ("maxItems", "minItems"):
        return (f"must have at most {value} items" if fault.validator == "maxItems"
                else f"must have at least {value} item(s)")
    if fault.validator in ("minimum", "maximum"):
        return f"must be {'at least' if fault.validator == 'minimum' else 'at most'} {value}"
    if fault.validator == "enum" and len(value) > 12:
        # A long list (time zones, languages) is said in words, not echoed.
        return (f"{str(fault.instance)[:64]!r} is not one of the {len(value)} values the "
                "OpenAPI document lists for it")
    if fault.validator == "enum":
        return f"must be one of {', '.join(str(item) for item in value)}"
    return "is not valid here"


class ApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> Response:
    return exc.response


@bp.errorhandler(InvalidInput)
def invalid_input(exc: InvalidInput) -> Response:
    return error(422, "invalid_input", exc.message, exc.details)


@bp.errorhandler(NotFound)
def not_found(exc: NotFound) -> Response:
    return error(404, "not_found", str(exc))


@bp.before_request
def authenticate() -> Response | None:
    state = _state()
    config = state.config
    if not state.tokens.enabled():
        return error(404, "not_found", "the API is off: set JOINGATE_ADMIN_TOKEN or create a "
                     "token with `joingate tokens create`")
    if request.endpoint == "api.openapi_document":
        return None                    # the document is public: it holds no data
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    scope = state.tokens.scope(token.strip()) if scheme.lower() == "bearer" else None
    if scope is None:
        if over_limit(state.store, "badapi", request.remote_addr or "",
                      config.api_bad_token_limit, config.invalid_token_window):
            return error(429, "rate_limited", "too many wrong tokens; wait and try again",
                         headers={"Retry-After": str(config.invalid_token_window)})
        return error(401, "unauthorized", "send Authorization: Bearer <token>",
                     headers={"WWW-Authenticate": 'Bearer realm="joingate"'})
    if request.method not in READ_METHODS and scope != "manage":
        return error(403, "forbidden", "this token may only read")
    g.api_scope = scope
    return None


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(_schemas().document)


# Meetings

@bp.get("/meetings")
def list_meetings() -> ResponseReturnValue:
    meetings = _state().meetings
    return jsonify(meetings=[_meeting_view(meetings.get(meeting_id))
                             for meeting_id in meetings.ids()])


@bp.post("/meetings")
def create_meeting() -> ResponseReturnValue:
    meetings = _state().meetings
    data = _body("MeetingCreate")
    try:
        meetings.get(data["id"])
    except NotFound:
        pass
    else:
        return error(409, "conflict", f"meeting {data['id']} exists; PATCH it to change it")
    meetings.add(data["id"], topic=data["topic"], start=parse_start(data["start"]),
                 duration=data["duration"], **meeting_options(data))
    return jsonify(_meeting_view(meetings.get(data["id"]))), 201


@bp.get("/meetings/<meeting_id>")
def read_meeting(meeting_id: str) -> ResponseReturnValue:
    return jsonify(_meeting_view(_state().meetings.get(_meeting_id(meeting_id))))


@bp.patch("/meetings/<meeting_id>")
def update_meeting(meeting_id: str) -> ResponseReturnValue:
    meetings = _state().meetings
    stored = meetings.get(_meeting_id(meeting_id))       # 404 before the body is read
    changes = _body("MeetingUpdate")
    try:
        meetings.add(stored.id, topic=changes.get("topic", stored.topic),
                     start=parse_start(changes["start"]) if "start" in changes else stored.start,
                     duration=changes.get("duration", stored.duration),
                     keep_registrants=changes.get("keep_registrants"),
                     **meeting_options(changes))
    except MeetingReused as exc:
        return error(409, "meeting_reused", f"{exc.message}: send keep_registrants true or "
                     "false")
    return jsonify(_meeting_view(meetings.get(stored.id)))


@bp.delete("/meetings/<meeting_id>")
def delete_meeting(meeting_id: str) -> ResponseReturnValue:
    """Forget the meeting and everything of it (its links answer 404)."""
    _state().meetings.delete(_meeting_id(meeting_id))
    return Response(status=204)


def _meeting_id(value: str) -> str:
    if not re.fullmatch(openapi.MEETING_ID.strip("^$"), value):
        raise NotFound(f"no meeting {value[:40]}")
    return value


# Registrants

def _meeting_view(meeting: Meeting) -> dict[str, Any]:
    """A meeting as the API shows it (times as RFC 3339, windows in minutes, no passcode)."""
    return {"id": meeting.id, "topic": meeting.topic, "start": iso_utc(meeting.start),
            "duration": meeting.duration, "target": meeting.target,
            "open_before": meeting.open_before // 60, "close_after": meeting.close_after // 60,
            "max_devices": meeting.max_devices, "max_moves": meeting.max_moves,
            "rejoin": meeting.rejoin,
            "policy": meeting.policy, "support": meeting.support,
            "auto_submit": meeting.auto_submit, "language": meeting.language,
            "timezone": meeting.timezone, "has_passcode": bool(meeting.pwd),
            "registrants": _state().meetings.registrant_count(meeting.id)}


def meeting_options(fields: dict[str, Any]) -> dict[str, Any]:
    """API field names and units (minutes) to the meeting's options (seconds)."""
    options: dict[str, Any] = {}
    for name in ("target", "max_devices", "policy", "support", "staff", "max_moves",
                 "language", "timezone"):
        if name in fields:
            options[name] = fields[name]
    for name in ("rejoin", "auto_submit"):
        if name in fields:
            options[name] = bool(fields[name])
    for name in ("open_before", "close_after"):
        if name in fields:
            options[name] = int(fields[name] * 60)
    if "passcode" in fields:
        options["pwd"] = fields["passcode"]
    return options


def _issued(link: IssuedLink) -> dict[str, Any]:
    return {"email": link.email, "display_name": link.display_name, "link": link.url,
            "created": link.created}


def _checked(item: dict[str, Any], index: int | None = None) -> RegistrantInput:
    checked, faults = check_registrant({key: str(value) for key, value in item.items()},
                                       _state().config.zoom_join_domain)
    if checked is None:
        where = {} if index is None else {"index": index}
        raise InvalidInput("registrant is not usable", [{**where, **fault} for fault in faults])
    return checked


@bp.post("/meetings/<meeting_id>/registrants")
def upsert_registrant(meeting_id: str) -> ResponseReturnValue:
    meetings = _state().meetings
    meeting_id = _meeting_id(meeting_id)
    meetings.get(meeting_id)
    link = meetings.issue_links(meeting_id, [_checked(_body("RegistrantInput"))])[0]
    return jsonify(_issued(link)), 201 if link.created else 200


@bp.post("/meetings/<meeting_id>/registrants/bulk")
def bulk_upsert(meeting_id: str) -> ResponseReturnValue:
    """Up to 5,000 registrants in one request. With ``Idempotency-Key``, a replay (same key and
    body) returns the first answer and creates nothing; the same key with another body is 409."""
    state = _state()
    meeting_id = _meeting_id(meeting_id)
    state.meetings.get(meeting_id)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 255 and all(33 <= ord(c) <= 126 for c in key)):
        return error(400, "bad_idempotency_key", "Idempotency-Key must be 1 to 255 visible "
                     "ASCII characters")
    raw = request.get_data(cache=True)
    if key is None:
        return jsonify(_bulk_answer(state.meetings.issue_links(meeting_id, _bulk_inputs())))
    key_digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    request_digest = hashlib.sha256(raw).hexdigest()[:32]
    # The key's record is this route's own storage plumbing: kept by the store directly.
    stored = state.store.idempotency_begin(meeting_id, key_digest, request_digest)
    if stored is not None:
        if stored.startswith("pending:"):
            return error(409, "in_progress", "a request with this Idempotency-Key is still "
                         "running; retry shortly", headers={"Retry-After": "1"})
        first = json.loads(stored)
        if first["request"] != request_digest:
            return error(409, "idempotency_key_reused",
                         "this Idempotency-Key was used with a different body")
        response = Response(first["body"], status=200, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        body = json.dumps(_bulk_answer(state.meetings.issue_links(meeting_id, _bulk_inputs())),
                          ensure_ascii=False)
    except BaseException:
        state.store.idempotency_finish(meeting_id, key_digest, None)
        raise
    state.store.idempotency_finish(meeting_id, key_digest,
                                     json.dumps({"request": request_digest, "body": body}))
    return Response(body, status=200, mimetype="application/json")


def _bulk_inputs() -> list[RegistrantInput]:
    data = _body("BulkInput")
    return [_checked(item, index) for index, item in enumerate(data["registrants"])]


def _bulk_answer(links: list[IssuedLink]) -> dict[str, Any]:
    return {"registrants": [_issued(link) for link in links],
            "created": sum(link.created for link in links)}


@bp.get("/meetings/<meeting_id>/registrants")
def list_registrants(meeting_id: str) -> ResponseReturnValue:
    state = _state()
    meeting_id = _meeting_id(meeting_id)
    offset = _query_int("cursor", 0, 0, 999_999_999)
    limit = _query_int("limit", 100, 1, 1000)
    page = _without_links(registrant_rows(state, meeting_id, offset, limit))
    more = offset + limit < state.meetings.registrant_count(meeting_id)
    return jsonify(registrants=page, next_cursor=str(offset + limit) if more else None)


def _query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(error(400, "bad_parameter", f"{name} must be a whole number from {low} "
                             f"to {high}", [{"field": name, "message": "out of range"}]))
    return int(raw)


@bp.get("/meetings/<meeting_id>/registrants/<email:email>")
def read_registrant(meeting_id: str, email: str) -> ResponseReturnValue:
    status = link_status(_state(), _meeting_id(meeting_id), email)
    return jsonify(_without_links([status])[0])


def _without_links(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as this token may see them: a link takes a seat, so only ``manage`` sees links."""
    if g.api_scope == "manage":
        return rows
    return [{name: value for name, value in row.items() if name != "link"} for row in rows]


def _link_action(action: str, meeting_id: str, email: str) -> ResponseReturnValue:
    meetings = _state().meetings
    meeting_id = _meeting_id(meeting_id)
    registrant = meetings.registrant(meeting_id, email)          # 404 if unknown
    link = meetings.manage_registrant(action, meeting_id, registrant.id, actor="api")
    return jsonify(email=registrant.email, display_name=registrant.display_name,
                   link=link, created=False)


@bp.post("/meetings/<meeting_id>/registrants/<email:email>/revoke")
def revoke_link(meeting_id: str, email: str) -> ResponseReturnValue:
    return _link_action("revoke", meeting_id, email)


@bp.post("/meetings/<meeting_id>/registrants/<email:email>/reset")
def reset_link(meeting_id: str, email: str) -> ResponseReturnValue:
    return _link_action("reset", meeting_id, email)


@bp.post("/meetings/<meeting_id>/registrants/<email:email>/reissue")
def reissue_link(meeting_id: str, email: str) -> ResponseReturnValue:
    return _link_action("reissue", meeting_id, email)


# Reports and feeds

@bp.get("/meetings/<meeting_id>/report")
def report(meeting_id: str) -> ResponseReturnValue:
    return jsonify(_state().presence.report(_meeting_id(meeting_id)))


@bp.get("/meetings/<meeting_id>/report.csv")
def report_csv(meeting_id: str) -> ResponseReturnValue:
    out = io.StringIO()
    write_report_csv(_state().presence.report(_meeting_id(meeting_id)), out)
    return Response(out.getvalue(), mimetype="text/csv")


@bp.get("/meetings/<meeting_id>/links.csv")
def links_csv(meeting_id: str) -> ResponseReturnValue:
    if g.api_scope != "manage":
        return error(403, "forbidden", "the mail merge holds every link: it needs a manage "
                     "token")
    out = io.StringIO()
    write_links_csv(registrant_rows(_state(), _meeting_id(meeting_id)), out)
    return Response(out.getvalue(), mimetype="text/csv")


@bp.get("/meetings/<meeting_id>/events")
def events(meeting_id: str) -> ResponseReturnValue:
    """The meeting's event feed, oldest first; pass ``next_cursor`` back as ``cursor``."""
    meeting_id = _meeting_id(meeting_id)
    cursor = request.args.get("cursor", "0-0")
    if not re.fullmatch(openapi.STREAM_ID.strip("^$"), cursor):
        raise ApiError(error(400, "bad_parameter", "cursor must be a next_cursor value",
                             [{"field": "cursor", "message": "not a cursor"}]))
    limit = _query_int("limit", 100, 1, 1000)
    rows = _state().meetings.events_page(meeting_id, cursor, limit)
    page = []
    for event, email in rows:
        entry: dict[str, Any] = {"id": event.id, "kind": event.kind, "at": iso_utc(event.at)}
        for name in ("registrant", "ip", "user_agent", "instance", "user_name"):
            if getattr(event, name):
                entry[name] = getattr(event, name)
        if email:
            entry["email"] = email
        page.append(entry)
    # Always a cursor to come back with: the feed is polled for what happens next.
    return jsonify(events=page, next_cursor=rows[-1][0].id if rows else cursor)


# Sending the links: the request queues, the worker sends (joingate/send_jobs.py)

@bp.post("/meetings/<meeting_id>/sends")
def queue_meeting_send(meeting_id: str) -> ResponseReturnValue:
    """Mail every registrant not sent yet (``resend``: everyone; ``only``: these)."""
    meeting_id = _meeting_id(meeting_id)
    _state().meetings.get(meeting_id)
    data = _body("SendRequest") if request.get_data(cache=True) else {}
    return _queued(meeting_id, data.get("only"), bool(data.get("resend", False)))


@bp.post("/meetings/<meeting_id>/registrants/<email:email>/send")
def queue_registrant_send(meeting_id: str, email: str) -> ResponseReturnValue:
    """Mail one registrant their current link, even if sent before."""
    meeting_id = _meeting_id(meeting_id)
    _state().meetings.registrant(meeting_id, email)              # 404 if unknown
    return _queued(meeting_id, [email], False)


def _queued(meeting_id: str, only: list[str] | None, resend: bool) -> ResponseReturnValue:
    try:
        job = queue_send(_state(), meeting_id, only, resend)
    except ConfigError as exc:          # the server's settings, not the request: 409
        return error(409, "not_configured", str(exc))
    except TemplateProblem as exc:
        return error(409, "template_error", exc.message, exc.details)
    return jsonify(job=job, meeting=meeting_id,
                   progress=f"/api/v1/meetings/{meeting_id}/sends"), 202


@bp.get("/meetings/<meeting_id>/sends")
def read_send_progress(meeting_id: str) -> ResponseReturnValue:
    return jsonify(send_progress(_state(), _meeting_id(meeting_id)))


def init_app(app: Flask) -> None:
    app.url_map.converters["email"] = EmailConverter
    app.extensions["joingate_api"] = ApiSchemas(app.config["JOINGATE"].zoom_join_domain,
                                                app.extensions["joingate"].catalogs.languages)
    app.register_blueprint(bp)
