"""The organizer API's OpenAPI 3.1 document, and the request schemas the API validates with.

One source of truth: the API validates every request body against the schemas below (jsonschema),
so a body the document calls invalid is refused (422), and every business rule the service layer
applies is expressed here too, so a body the document calls valid is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .i18n import BUILTIN_LANGUAGES, language_choices, timezone_choices
from .meetings import STAFF_PATTERN  # one pattern for the API and the CLI
from .zoom import urls

# Patterns avoid \s and \S: JSON Schema (ECMA-262) and Python disagree on what is white space.
SPACES = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
VISIBLE = f"[^{SPACES}]"            # at least one character that is neither space nor control
NO_SPACE = r"^[!-~]*$"              # printable ASCII without the space
EMAIL = r"^[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+$"   # printable ASCII, one @
MEETING_ID = r"^[0-9]{6,15}$"
STREAM_ID = r"^[0-9]{1,19}-[0-9]{1,19}$"     # fits Redis's 64-bit stream ids
SEND_STATES = ["", "sending", "sent", "bounced", "failed", "invalid"]


def join_url_pattern(domain: str) -> str:
    """Empty, or a join URL check_join_url accepts (one definition: zoom.urls)."""
    return "^$|" + urls.join_url_pattern(domain)


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _csv(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}


def schemas(join_domain: str, languages: Iterable[str] = BUILTIN_LANGUAGES) -> dict[str, Any]:
    """Component schemas; request schemas are closed (no unknown properties)."""
    name = {"type": "string", "maxLength": 200, "pattern": VISIBLE}
    registrant_input = {
        "type": "object", "additionalProperties": False, "required": ["email"],
        "properties": {
            "email": {"type": "string", "maxLength": 254, "pattern": EMAIL},
            "name": {"type": "string", "maxLength": 200},
            "first_name": {"type": "string", "maxLength": 99},
            "last_name": {"type": "string", "maxLength": 99},
            "registrant_id": {"type": "string", "maxLength": 64, "pattern": NO_SPACE},
            "join_url": {"type": "string", "maxLength": urls.MAX_JOIN_URL,
                         "pattern": join_url_pattern(join_domain)},
        },
        "anyOf": [{"required": ["name"], "properties": {"name": name}},
                  {"required": ["first_name"],
                   "properties": {"first_name": {**name, "maxLength": 99}}},
                  {"required": ["last_name"],
                   "properties": {"last_name": {**name, "maxLength": 99}}}],
    }
    meeting_fields = {
        "topic": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": VISIBLE},
        "start": {"type": "string", "format": "date-time",
                  "description": "RFC 3339 time with an offset, e.g. 2026-12-01T18:00:00Z"},
        "duration": {"type": "integer", "minimum": 1, "maximum": 10080,
                     "description": "minutes"},
        "passcode": {"type": "string", "maxLength": 256, "pattern": NO_SPACE,
                     "description": "goes verbatim into pwd= (plain or Zoom's encoded one)"},
        "target": {"type": "string", "enum": ["webclient", "registrant"]},
        "open_before": {"type": "integer", "minimum": 0, "maximum": 1440,
                        "description": "minutes before the start when links open"},
        "close_after": {"type": "integer", "minimum": 0, "maximum": 10080,
                        "description": "minutes after the scheduled end when links close"},
        "max_devices": {"type": "integer", "minimum": 1, "maximum": 10},
        "max_moves": {"type": "integer", "minimum": 0, "maximum": 20,
                      "description": "moves to a new device by emailed code (0: off)"},
        "rejoin": {"type": "boolean"},
        "policy": {"type": "string", "enum": ["alert", "deny"]},
        "support": {"type": "string", "maxLength": 200},
        "auto_submit": {"type": "boolean"},
        "language": {"type": "string", "enum": language_choices(languages), "description":
                     "language of the registrant's pages (en, pt, es, fr, de, a regional form "
                     "such as pt-BR, an organizer catalog); empty: the browser's"},
        "timezone": {"type": "string", "enum": list(timezone_choices()), "description":
                     "IANA time zone of the pages' times, e.g. Europe/Lisbon; empty: UTC"},
        "staff": {"type": "array", "maxItems": 50, "description":
                  "emails or Zoom user ids of signed-in staff, never flagged (never names: "
                  "anyone can type a name)",
                  "items": {"type": "string", "maxLength": 200, "pattern": STAFF_PATTERN}},
    }
    return {
        "Error": {
            "type": "object", "required": ["error", "message", "details"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                           "details": {"type": "array", "items": {"type": "object"}}}},
        "MeetingCreate": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "topic", "start", "duration"],
            "properties": {"id": {"type": "string", "pattern": MEETING_ID}, **meeting_fields}},
        "MeetingUpdate": {"type": "object", "additionalProperties": False,
                          "properties": {**meeting_fields, "keep_registrants": {
                              "type": "boolean", "description":
                              "Needed when the meeting's window has closed and the change "
                              "opens it again: true keeps its registrants and their links, "
                              "false forgets them (their links stop working). Without it such "
                              "a change is 409."}}},
        "Meeting": {
            "type": "object",
            "required": ["id", "topic", "start", "duration", "target", "open_before",
                         "close_after", "max_devices", "rejoin", "policy", "support",
                         "auto_submit", "language", "timezone", "has_passcode",
                         "registrants"],
            "properties": {
                "id": {"type": "string"}, "topic": {"type": "string"},
                "start": {"type": "string"}, "duration": {"type": "integer"},
                "target": {"type": "string"}, "open_before": {"type": "integer"},
                "close_after": {"type": "integer"}, "max_devices": {"type": "integer"},
                "max_moves": {"type": "integer"},
                "rejoin": {"type": "boolean"}, "policy": {"type": "string"},
                "support": {"type": "string"}, "auto_submit": {"type": "boolean"},
                "language": {"type": "string"}, "timezone": {"type": "string"},
                "has_passcode": {"type": "boolean"}, "registrants": {"type": "integer"}}},
        "MeetingList": {"type": "object", "required": ["meetings"], "properties": {
            "meetings": {"type": "array", "items": {"$ref": "#/components/schemas/Meeting"}}}},
        "RegistrantInput": registrant_input,
        "BulkInput": {"type": "object", "additionalProperties": False,
                      "required": ["registrants"],
                      "properties": {"registrants": {
                          "type": "array", "minItems": 1, "maxItems": 5000,
                          "items": {"$ref": "#/components/schemas/RegistrantInput"}}}},
        "IssuedLink": {
            "type": "object",
            "required": ["email", "display_name", "link", "created"],
            "properties": {"email": {"type": "string"}, "display_name": {"type": "string"},
                           "link": {"type": "string"}, "created": {"type": "boolean"}}},
        "BulkResult": {"type": "object", "required": ["registrants", "created"], "properties": {
            "registrants": {"type": "array",
                            "items": {"$ref": "#/components/schemas/IssuedLink"}},
            "created": {"type": "integer"}}},
        "RegistrantSummary": {
            "type": "object",
            "required": ["email", "name", "display_name", "status", "registrant_id"],
            "description": "link: only for manage tokens (a link takes a seat)",
            "properties": {key: {"type": "string"} for key in
                           ("email", "name", "display_name", "status", "registrant_id",
                            "link")}},
        "RegistrantPage": {"type": "object", "required": ["registrants", "next_cursor"],
                           "properties": {
                               "registrants": {"type": "array", "items": {
                                   "$ref": "#/components/schemas/RegistrantSummary"}},
                               "next_cursor": {"type": ["string", "null"]}}},
        "LinkStatus": {
            "type": "object",
            "description": "link: only for manage tokens (a link takes a seat)",
            "required": ["meeting", "email", "name", "display_name", "status",
                         "link_id", "opens", "claims", "refused", "devices", "history"],
            "properties": {
                "meeting": {"type": "string"}, "email": {"type": "string"},
                "name": {"type": "string"}, "display_name": {"type": "string"},
                "status": {"type": "string",
                           "enum": ["issued", "opened", "claimed", "joined", "revoked"]},
                "link": {"type": "string"}, "link_id": {"type": "string"},
                "opens": {"type": "integer"}, "claims": {"type": "integer"},
                "refused": {"type": "integer"}, "devices": {"type": "integer"},
                "flags": {"type": "array", "items": {"type": "string", "enum": [
                    "shared", "shared_suspected", "second_device", "moved"]}},
                "evidence": {"type": "array", "items": {
                    "$ref": "#/components/schemas/SharingEvidence"}},
                "history": {"type": "array", "description": "opens, claims, refused attempts "
                            "(refused_open, refused) and organizer actions; at is ISO 8601 UTC",
                            "items": {
                    "type": "object", "required": ["kind", "at", "ip", "user_agent"],
                    "properties": {key: {"type": "string"} for key in
                                   ("kind", "at", "ip", "user_agent")}}},
                "sent": {"type": "string", "enum": SEND_STATES,
                         "description": "the mailed link now valid: '' when not sent"},
                "send": {"oneOf": [{"type": "null"}, {
                    "type": "object",
                    "required": ["state", "at", "message_id", "version", "reply", "tries"],
                    "properties": {"state": {"type": "string", "enum": SEND_STATES[1:]},
                                   "at": {"type": "number"},
                                   "message_id": {"type": "string"},
                                   "version": {"type": "integer"},
                                   "reply": {"type": "string"},
                                   "tries": {"type": "integer"}}}]}}},
        "Report": {
            "type": "object", "required": ["meeting", "registrants", "unmatched"],
            "properties": {
                "meeting": {"type": "string"},
                "registrants": {"type": "array", "items": {
                    "type": "object",
                    "required": ["email", "name", "status", "claims", "joins",
                                 "max_concurrent", "flags"],
                    "properties": {
                        "email": {"type": "string"}, "name": {"type": "string"},
                        "status": {"type": "string", "enum": [
                            "issued", "opened", "claimed", "joined", "revoked"]},
                        "claims": {"type": "integer"}, "joins": {"type": "integer"},
                        "max_concurrent": {"type": "integer"},
                        "minutes": {"type": "number"}, "present": {"type": "integer"},
                        "people": {"type": "integer", "description":
                                   "most distinct people on this registration in one "
                                   "instance (one signed-in Zoom user on several devices "
                                   "is one person)"},
                        "flags": {"type": "array", "description":
                                  "shared: two or more people on this registration for more "
                                  "than SHARED_GRACE seconds in total, seen on evidence nobody "
                                  "can type (Zoom registrant_id, customer_key, a signed-in "
                                  "user's email); shared_suspected: the same, seen only "
                                  "through a typed display name (never acted on); "
                                  "second_device: an open or claim refused because the link "
                                  "is bound to another browser; moved: the link was moved to "
                                  "a new device by an emailed code",
                                  "items": {"type": "string", "enum": [
                                      "shared", "shared_suspected", "second_device",
                                      "moved"]}},
                        "evidence": {"type": "array", "items": {"$ref":
                                     "#/components/schemas/SharingEvidence"}},
                        "sent": {"type": "string", "enum": SEND_STATES,
                                 "description": "the mailed link now valid: '' when not "
                                 "sent"}}}},
                "unmatched": {"type": "array", "items": {
                    "type": "object", "required": ["user_name", "participant_uuid", "join_time"],
                    "properties": {key: {"type": "string"} for key in
                                   ("user_name", "participant_uuid", "join_time")}}}}},
        "SharingEvidence": {
            "type": "object", "required": ["flag", "instance", "overlap_seconds", "people"],
            "properties": {
                "flag": {"type": "string", "enum": ["shared", "shared_suspected"]},
                "instance": {"type": "string"}, "overlap_seconds": {"type": "number"},
                "people": {"type": "array", "items": {
                    "type": "object", "required": ["evidence", "via", "stays"],
                    "properties": {
                        "evidence": {"type": "string", "enum": ["strong", "medium", "weak"]},
                        "via": {"type": "string", "enum": [
                            "registrant_id", "customer_key", "email", "name"]},
                        "stays": {"type": "array", "items": {
                            "type": "object",
                            "required": ["user_name", "participant_uuid", "join_time"],
                            "properties": {key: {"type": "string"} for key in (
                                "user_name", "participant_uuid", "join_time", "renamed_to",
                                "zoom_user_id", "email", "registrant_id", "customer_key")}}}}}}}},
        "SendRequest": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "only": {"type": "array", "minItems": 1, "maxItems": 1000,
                         "items": {"type": "string", "maxLength": 254, "pattern": EMAIL},
                         "description": "send to these registrants only, even if sent before"},
                "resend": {"type": "boolean",
                           "description": "send to everyone again, even those sent before"}}},
        "SendQueued": {
            "type": "object", "required": ["job", "meeting", "progress"],
            "properties": {"job": {"type": "string"}, "meeting": {"type": "string"},
                           "progress": {"type": "string"}}},
        "SendProgress": {
            "type": "object", "required": ["meeting", "pending_jobs", "run", "problems"],
            "properties": {
                "meeting": {"type": "string"},
                "pending_jobs": {"type": "integer",
                                 "description": "send jobs queued or running"},
                "run": {"oneOf": [{"type": "null"}, {
                    "type": "object",
                    "required": ["by", "state", "total", "done", "sent", "skipped", "bounced",
                                 "failed", "invalid", "revoked", "started", "updated",
                                 "finished", "error"],
                    "properties": {
                        "by": {"type": "string"}, "job": {"type": "string"},
                        "state": {"type": "string",
                                  "enum": ["running", "done", "stopped", "failed"]},
                        **{name: {"type": "integer"} for name in
                           ("total", "done", "sent", "skipped", "bounced", "failed",
                            "invalid", "revoked")},
                        "started": {"type": "number"}, "updated": {"type": "number"},
                        "finished": {"type": ["number", "null"]},
                        "error": {"type": "string"}}}]},
                "problems": {"type": "array", "items": {
                    "type": "object", "required": ["email", "state", "reply", "at"],
                    "properties": {"email": {"type": "string"},
                                   "state": {"type": "string",
                                             "enum": ["bounced", "failed", "invalid"]},
                                   "reply": {"type": "string"}, "at": {"type": "number"}}}}}},
        "Event": {
            "type": "object", "required": ["id", "kind", "at"],
            "properties": {"id": {"type": "string"}, "kind": {"type": "string"},
                           "at": {"type": "string", "description": "ISO 8601 UTC"},
                           "email": {"type": "string"},
                           "registrant": {"type": "string"}, "ip": {"type": "string"},
                           "user_agent": {"type": "string"}, "instance": {"type": "string"},
                           "user_name": {"type": "string"}}},
        "EventPage": {"type": "object", "required": ["events", "next_cursor"], "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "next_cursor": {"type": ["string", "null"]}}},
    }


def document(join_domain: str, languages: Iterable[str] = BUILTIN_LANGUAGES) -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /api/v1/openapi.json (``languages``: the pages'
    catalogs, which a meeting's language must name)."""
    meeting_id = {"name": "meeting_id", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": MEETING_ID}}
    email = {"name": "email", "in": "path", "required": True,
             "schema": {"type": "string", "maxLength": 254, "pattern": EMAIL}}
    limit = {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
    default = {"default": _error_response("An error (see `error` for its code)")}
    manage = [{"bearer": ["manage"]}]
    read = [{"bearer": ["read"]}]

    def op(summary: str, security: list, responses: dict, **extra: Any) -> dict[str, Any]:
        return {"summary": summary, "security": security, "responses": {**responses, **default},
                **extra}

    def body(ref: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}

    link_action: dict[str, Any] = {
        "parameters": [meeting_id, email],
        "post": op("", manage, {"200": _json("#/components/schemas/IssuedLink",
                                             "the link now valid")})}
    paths: dict[str, Any] = {
        "/meetings": {
            "get": op("List meetings", read,
                      {"200": _json("#/components/schemas/MeetingList", "meetings")}),
            "post": op("Create a meeting (409 if it exists)", manage,
                       {"201": _json("#/components/schemas/Meeting", "created")},
                       requestBody=body("#/components/schemas/MeetingCreate")),
        },
        "/meetings/{meeting_id}": {
            "parameters": [meeting_id],
            "get": op("Read a meeting", read,
                      {"200": _json("#/components/schemas/Meeting", "the meeting")}),
            "patch": op("Update a meeting (fields left out keep their value)", manage,
                        {"200": _json("#/components/schemas/Meeting", "updated"),
                         "409": _error_response("the meeting has ended and the change would "
                                                "open it again: send keep_registrants")},
                        requestBody=body("#/components/schemas/MeetingUpdate")),
            "delete": op("Delete the meeting with its registrants, links, history and "
                         "attendance (its links answer 404)", manage,
                         {"204": {"description": "deleted"}}),
        },
        "/meetings/{meeting_id}/registrants": {
            "parameters": [meeting_id],
            "get": op("List registrants with their links, in order of first issue", read,
                      {"200": _json("#/components/schemas/RegistrantPage", "a page")},
                      parameters=[{"name": "cursor", "in": "query", "required": False,
                                   "schema": {"type": "string", "pattern": r"^[0-9]{1,9}$"}},
                                  limit]),
            "post": op("Create or update one registrant; answers with the link", manage,
                       {"200": _json("#/components/schemas/IssuedLink", "updated"),
                        "201": _json("#/components/schemas/IssuedLink", "created")},
                       requestBody=body("#/components/schemas/RegistrantInput")),
        },
        "/meetings/{meeting_id}/registrants/bulk": {
            "parameters": [meeting_id],
            "post": op("Create or update up to 5,000 registrants; answers with every link",
                       manage, {"200": _json("#/components/schemas/BulkResult", "the links")},
                       parameters=[{"name": "Idempotency-Key", "in": "header",
                                    "required": False,
                                    "schema": {"type": "string", "minLength": 1,
                                               "maxLength": 255, "pattern": r"^[!-~]+$"}}],
                       requestBody=body("#/components/schemas/BulkInput")),
        },
        "/meetings/{meeting_id}/registrants/{email}": {
            "parameters": [meeting_id, email],
            "get": op("Status and history of one link", read,
                      {"200": _json("#/components/schemas/LinkStatus", "the link")}),
        },
        "/meetings/{meeting_id}/registrants/{email}/revoke": {
            **link_action, "post": {**link_action["post"], "summary": "Revoke the link (410)"}},
        "/meetings/{meeting_id}/registrants/{email}/reset": {
            **link_action, "post": {**link_action["post"],
                                    "summary": "Free the device binding"}},
        "/meetings/{meeting_id}/registrants/{email}/reissue": {
            **link_action, "post": {**link_action["post"],
                                    "summary": "A new link; the old one stops working"}},
        "/meetings/{meeting_id}/registrants/{email}/send": {
            "parameters": [meeting_id, email],
            "post": op("Mail the registrant their current link (the worker sends)", manage,
                       {"202": _json("#/components/schemas/SendQueued", "queued")}),
        },
        "/meetings/{meeting_id}/sends": {
            "parameters": [meeting_id],
            "post": op("Mail every registrant not sent yet their link (the worker sends); 409 "
                       "when SMTP is not configured or a template is broken (its line named)",
                       manage, {"202": _json("#/components/schemas/SendQueued", "queued")},
                       requestBody={"required": False, "content": {"application/json": {
                           "schema": {"$ref": "#/components/schemas/SendRequest"}}}}),
            "get": op("Progress of the latest send, and who is left without the link", read,
                      {"200": _json("#/components/schemas/SendProgress", "progress")}),
        },
        "/meetings/{meeting_id}/report": {
            "parameters": [meeting_id],
            "get": op("Attendance report", read,
                      {"200": _json("#/components/schemas/Report", "the report")}),
        },
        "/meetings/{meeting_id}/report.csv": {
            "parameters": [meeting_id],
            "get": op("Attendance report as CSV", read, {"200": _csv("the report")}),
        },
        "/meetings/{meeting_id}/links.csv": {
            "parameters": [meeting_id],
            "get": op("Every registrant's current link, for the mail merge", manage,
                      {"200": _csv("email,name,display_name,status,registrant_id,link")}),
        },
        "/meetings/{meeting_id}/events": {
            "parameters": [meeting_id],
            "get": op("Opens, claims, refusals, joins and organizer actions, oldest first",
                      read, {"200": _json("#/components/schemas/EventPage", "a page")},
                      parameters=[{"name": "cursor", "in": "query", "required": False,
                                   "schema": {"type": "string", "pattern": STREAM_ID}},
                                  limit]),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "joingate organizer API", "version": "1.0.0",
                 "description": "Meetings, registrants and their gate links, reports."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": schemas(join_domain, languages),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A token with scope read (GET only, never a link: a link "
                               "takes a seat) or manage (everything)."}},
        },
    }
