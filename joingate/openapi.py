"""The organizer API's OpenAPI 3.1 document, and the request schemas the API validates with.

One source of truth: the API validates every request body against the schemas below (jsonschema),
so a body the document calls invalid is refused (422), and every business rule the service layer
applies is expressed here too, so a body the document calls valid is accepted.
"""

from __future__ import annotations

from typing import Any

from .zoom import urls

# Patterns avoid \s and \S: JSON Schema (ECMA-262) and Python disagree on what is white space.
SPACES = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
VISIBLE = f"[^{SPACES}]"            # at least one character that is neither space nor control
NO_SPACE = r"^[!-~]*$"              # printable ASCII without the space
EMAIL = r"^[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+$"   # printable ASCII, one @
MEETING_ID = r"^[0-9]{6,15}$"
STREAM_ID = r"^[0-9]{1,19}-[0-9]{1,19}$"     # fits Redis's 64-bit stream ids


LINK_FOR_MANAGE = {"type": "string",
                   "description": "The gate link; in answers to manage tokens only."}


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


def schemas(join_domain: str) -> dict[str, Any]:
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
        "rejoin": {"type": "boolean"},
        "policy": {"type": "string", "enum": ["alert", "deny"]},
        "support": {"type": "string", "maxLength": 200},
        "auto_submit": {"type": "boolean"},
        "staff": {"type": "array", "maxItems": 50,
                  "items": {"type": "string", "maxLength": 200}},
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
                          "properties": meeting_fields},
        "Meeting": {
            "type": "object",
            "required": ["id", "topic", "start", "duration", "target", "open_before",
                         "close_after", "max_devices", "rejoin", "policy", "support",
                         "auto_submit", "has_passcode", "registrants"],
            "properties": {
                "id": {"type": "string"}, "topic": {"type": "string"},
                "start": {"type": "string"}, "duration": {"type": "integer"},
                "target": {"type": "string"}, "open_before": {"type": "integer"},
                "close_after": {"type": "integer"}, "max_devices": {"type": "integer"},
                "rejoin": {"type": "boolean"}, "policy": {"type": "string"},
                "support": {"type": "string"}, "auto_submit": {"type": "boolean"},
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
            "properties": {**{key: {"type": "string"} for key in
                              ("email", "name", "display_name", "status", "registrant_id")},
                           "link": LINK_FOR_MANAGE}},
        "RegistrantPage": {"type": "object", "required": ["registrants", "next_cursor"],
                           "properties": {
                               "registrants": {"type": "array", "items": {
                                   "$ref": "#/components/schemas/RegistrantSummary"}},
                               "next_cursor": {"type": ["string", "null"]}}},
        "LinkStatus": {
            "type": "object",
            "required": ["meeting", "email", "name", "display_name", "status",
                         "link_id", "opens", "claims", "refused", "devices", "history"],
            "properties": {
                "meeting": {"type": "string"}, "email": {"type": "string"},
                "name": {"type": "string"}, "display_name": {"type": "string"},
                "status": {"type": "string",
                           "enum": ["issued", "opened", "claimed", "joined", "revoked"]},
                "link": LINK_FOR_MANAGE, "link_id": {"type": "string"},
                "opens": {"type": "integer"}, "claims": {"type": "integer"},
                "refused": {"type": "integer"}, "devices": {"type": "integer"},
                "history": {"type": "array", "items": {
                    "type": "object", "required": ["kind", "at", "ip", "user_agent"],
                    "properties": {key: {"type": "string"} for key in
                                   ("kind", "at", "ip", "user_agent")}}}}},
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
                        "flags": {"type": "array", "items": {
                            "type": "string", "enum": ["shared", "second_device"]}}}}},
                "unmatched": {"type": "array", "items": {
                    "type": "object", "required": ["user_name", "participant_uuid", "join_time"],
                    "properties": {key: {"type": "string"} for key in
                                   ("user_name", "participant_uuid", "join_time")}}}}},
        "Event": {
            "type": "object", "required": ["id", "kind", "at"],
            "properties": {"id": {"type": "string"}, "kind": {"type": "string"},
                           "at": {"type": "number"}, "email": {"type": "string"},
                           "registrant": {"type": "string"}, "ip": {"type": "string"},
                           "user_agent": {"type": "string"}, "instance": {"type": "string"},
                           "user_name": {"type": "string"}}},
        "EventPage": {"type": "object", "required": ["events", "next_cursor"], "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
            "next_cursor": {"type": ["string", "null"]}}},
    }


def document(join_domain: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /api/v1/openapi.json."""
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

    link_action = {
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
                        {"200": _json("#/components/schemas/Meeting", "updated")},
                        requestBody=body("#/components/schemas/MeetingUpdate")),
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
            "get": op("Every registrant's current link, for the mail merge (manage tokens "
                      "only)", manage,
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
            "schemas": schemas(join_domain),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A token with scope read (GET only, never a link: a link "
                               "takes a seat) or manage (everything)."}},
        },
    }
