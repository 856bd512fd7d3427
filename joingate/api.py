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
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from jsonschema import Draft202012Validator
from werkzeug.routing import BaseConverter
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from . import openapi
from .errors import InvalidInput, NotFound, StorageUnavailable
from .exports import write_links_csv, write_report_csv
from .json_body import read_json
from .roster import check_registrant
from .service import Service, meeting_options, parse_start
from .store import event_time

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class EmailConverter(BaseConverter):
    """A path segment with an @: keeps /registrants/bulk from reading as an email."""

    regex = r"[^/]*@[^/]*"

READ_METHODS = frozenset({"GET", "HEAD"})


class ApiSchemas:
    """The served document and one validator per request schema, built once per app."""

    def __init__(self, join_domain: str) -> None:
        self.document = openapi.document(join_domain)
        registry = Registry().with_resource(
            "urn:joingate", Resource.from_contents(self.document,
                                                   default_specification=DRAFT202012))
        self.validators = {
            name: Draft202012Validator({"$ref": f"urn:joingate#/components/schemas/{name}"},
                                       registry=registry)
            for name in ("MeetingCreate", "MeetingUpdate", "RegistrantInput", "BulkInput")}


def error(status: int, code: str, message: str, details: list | None = None,
          headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error=code, message=message, details=details or [])
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _service() -> Service:
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
                                  "message": fault.message[:300]}
        if len(path) >= 2 and path[0] == "registrants" and isinstance(path[1], int):
            detail["index"] = path[1]
        faults.append(detail)
        if len(faults) >= 100:
            break
    if faults:
        raise ApiError(error(422, "invalid_input", f"{len(faults)} problem(s) in the body; "
                             f"first: {faults[0]['field']}: {faults[0]['message']}", faults))
    return data


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
    service = _service()
    if not service.config["ADMIN_TOKEN"]:
        return error(404, "not_found", "the API is off: JOINGATE_ADMIN_TOKEN is not set")
    if request.endpoint == "api.openapi_document":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    scope = service.api_scope(token.strip()) if scheme.lower() == "bearer" else None
    if scope is None:
        try:
            count = service.store.count_invalid_token(
                request.remote_addr or "", service.config["INVALID_TOKEN_WINDOW"], kind="badapi")
        except StorageUnavailable:
            count = 0
        if count > service.config["API_BAD_TOKEN_LIMIT"]:
            return error(429, "rate_limited", "too many wrong tokens; wait and try again",
                         headers={"Retry-After": str(service.config["INVALID_TOKEN_WINDOW"])})
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
    service = _service()
    return jsonify(meetings=[service.meeting_view(meeting_id)
                             for meeting_id in service.store.meeting_ids()])


@bp.post("/meetings")
def create_meeting() -> ResponseReturnValue:
    service = _service()
    data = _body("MeetingCreate")
    try:
        service.meeting(data["id"])
    except NotFound:
        pass
    else:
        return error(409, "conflict", f"meeting {data['id']} exists; PATCH it to change it")
    service.add_meeting(data["id"], topic=data["topic"], start=parse_start(data["start"]),
                        duration=data["duration"], **meeting_options(data))
    return jsonify(service.meeting_view(data["id"])), 201


@bp.get("/meetings/<meeting_id>")
def read_meeting(meeting_id: str) -> ResponseReturnValue:
    return jsonify(_service().meeting_view(_meeting_id(meeting_id)))


@bp.patch("/meetings/<meeting_id>")
def update_meeting(meeting_id: str) -> ResponseReturnValue:
    service = _service()
    meeting_id = _meeting_id(meeting_id)
    service.meeting(meeting_id)            # 404 before the body is read
    service.update_meeting(meeting_id, _body("MeetingUpdate"))
    return jsonify(service.meeting_view(meeting_id))


def _meeting_id(value: str) -> str:
    if not re.fullmatch(openapi.MEETING_ID.strip("^$"), value):
        raise NotFound(f"no meeting {value[:40]}")
    return value


# Registrants

def _issued(link: Any) -> dict[str, Any]:
    return {"email": link.email, "display_name": link.display_name, "link": link.url,
            "created": link.created}


def _checked(item: dict[str, Any], index: int | None = None) -> Any:
    checked, faults = check_registrant({key: str(value) for key, value in item.items()},
                                       _service().config["ZOOM_JOIN_DOMAIN"])
    if checked is None:
        where = {} if index is None else {"index": index}
        raise InvalidInput("registrant is not usable", [{**where, **fault} for fault in faults])
    return checked


@bp.post("/meetings/<meeting_id>/registrants")
def upsert_registrant(meeting_id: str) -> ResponseReturnValue:
    service = _service()
    meeting_id = _meeting_id(meeting_id)
    service.meeting(meeting_id)
    link = service.issue_links(meeting_id, [_checked(_body("RegistrantInput"))])[0]
    return jsonify(_issued(link)), 201 if link.created else 200


@bp.post("/meetings/<meeting_id>/registrants/bulk")
def bulk_upsert(meeting_id: str) -> ResponseReturnValue:
    """Up to 5,000 registrants in one request. With ``Idempotency-Key``, a replay (same key and
    body) returns the first answer and creates nothing; the same key with another body is 409."""
    service = _service()
    meeting_id = _meeting_id(meeting_id)
    service.meeting(meeting_id)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 255 and all(33 <= ord(c) <= 126 for c in key)):
        return error(400, "bad_idempotency_key", "Idempotency-Key must be 1 to 255 visible "
                     "ASCII characters")
    raw = request.get_data(cache=True)
    if key is None:
        return jsonify(_bulk_answer(service.issue_links(meeting_id, _bulk_inputs())))
    key_digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    request_digest = hashlib.sha256(raw).hexdigest()[:32]
    stored = service.store.idempotency_begin(meeting_id, key_digest, request_digest)
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
        body = json.dumps(_bulk_answer(service.issue_links(meeting_id, _bulk_inputs())),
                          ensure_ascii=False)
    except BaseException:
        service.store.idempotency_finish(meeting_id, key_digest, None)
        raise
    service.store.idempotency_finish(meeting_id, key_digest,
                                     json.dumps({"request": request_digest, "body": body}))
    return Response(body, status=200, mimetype="application/json")


def _bulk_inputs() -> list:
    data = _body("BulkInput")
    return [_checked(item, index) for index, item in enumerate(data["registrants"])]


def _bulk_answer(links: list) -> dict[str, Any]:
    return {"registrants": [_issued(link) for link in links],
            "created": sum(link.created for link in links)}


@bp.get("/meetings/<meeting_id>/registrants")
def list_registrants(meeting_id: str) -> ResponseReturnValue:
    service = _service()
    meeting_id = _meeting_id(meeting_id)
    offset = _query_int("cursor", 0, 0, 999_999_999)
    limit = _query_int("limit", 100, 1, 1000)
    page = [_links_for_scope(row) for row in service.export_links(meeting_id, offset, limit)]
    more = offset + limit < service.store.registrant_count(meeting_id)
    return jsonify(registrants=page, next_cursor=str(offset + limit) if more else None)


def _links_for_scope(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as the token may see it: a link claims a seat, so only a manage token gets one
    (a read token is for dashboards)."""
    if g.get("api_scope") == "manage":
        return row
    return {key: value for key, value in row.items() if key != "link"}


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
    return jsonify(_links_for_scope(_service().link_status(_meeting_id(meeting_id), email)))


def _link_action(action: str, meeting_id: str, email: str) -> ResponseReturnValue:
    service = _service()
    meeting_id = _meeting_id(meeting_id)
    link = service.manage_link(action, meeting_id, email, actor="api")   # 404 if unknown
    fields = service.store.registrant(meeting_id, service.registrant_id(email))
    return jsonify(email=fields.get("email", ""), display_name=fields.get("display", ""),
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
    return jsonify(_service().report(_meeting_id(meeting_id)))


@bp.get("/meetings/<meeting_id>/report.csv")
def report_csv(meeting_id: str) -> ResponseReturnValue:
    out = io.StringIO()
    write_report_csv(_service().report(_meeting_id(meeting_id)), out)
    return Response(out.getvalue(), mimetype="text/csv")


@bp.get("/meetings/<meeting_id>/links.csv")
def links_csv(meeting_id: str) -> ResponseReturnValue:
    if g.get("api_scope") != "manage":
        return error(403, "forbidden", "links need a manage token: a link takes a seat")
    out = io.StringIO()
    write_links_csv(_service().export_links(_meeting_id(meeting_id)), out)
    return Response(out.getvalue(), mimetype="text/csv")


@bp.get("/meetings/<meeting_id>/events")
def events(meeting_id: str) -> ResponseReturnValue:
    """The meeting's event feed, oldest first; pass ``next_cursor`` back as ``cursor``."""
    service = _service()
    meeting_id = _meeting_id(meeting_id)
    service.meeting(meeting_id)
    cursor = request.args.get("cursor", "0-0")
    if not re.fullmatch(openapi.STREAM_ID.strip("^$"), cursor):
        raise ApiError(error(400, "bad_parameter", "cursor must be a next_cursor value",
                             [{"field": "cursor", "message": "not a cursor"}]))
    limit = _query_int("limit", 100, 1, 1000)
    rows = service.store.events_page(meeting_id, cursor, limit)
    page = []
    for event_id, fields, email in rows:
        event: dict[str, Any] = {"id": event_id, "kind": fields.get("kind", ""),
                                 "at": float(event_time(event_id, fields))}
        for name, key in (("registrant", "registrant"), ("ip", "ip"), ("user_agent", "ua"),
                          ("instance", "instance"), ("user_name", "name")):
            if fields.get(key):
                event[name] = fields[key]
        if email:
            event["email"] = email
        page.append(event)
    # Always a cursor to come back with: the feed is polled for what happens next.
    return jsonify(events=page, next_cursor=rows[-1][0] if rows else cursor)


def init_app(app: Flask) -> None:
    app.url_map.converters["email"] = EmailConverter
    app.extensions["joingate_api"] = ApiSchemas(app.config["JOINGATE"]["ZOOM_JOIN_DOMAIN"])
    app.register_blueprint(bp)
