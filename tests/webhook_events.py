"""Helpers that speak as Zoom does: signed webhook deliveries built from ../shared/zoom samples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from joingate.zoom.events import zoom_signature

SAMPLES = Path(__file__).resolve().parent / "zoom_samples"
WEBHOOK_SECRET = "zoom-secret-token"


def sample(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8")))


def signed(body: dict | bytes, timestamp: int, secret: str = WEBHOOK_SECRET,
           **headers: str) -> tuple[bytes, dict[str, str]]:
    """Compact JSON bytes (as Zoom sends them) and headers signed over exactly those bytes;
    ``headers`` override or, given as "", remove a header."""
    raw = body if isinstance(body, bytes) else json.dumps(
        body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    sent = {"x-zm-request-timestamp": str(timestamp),
            "x-zm-signature": zoom_signature(secret, str(timestamp), raw),
            "content-type": "application/json"}
    for name, value in headers.items():
        name = name.replace("_", "-")
        if value == "":
            sent.pop(name, None)
        else:
            sent[name] = value
    return raw, sent


def participant(kind: str, *, user_id: str, name: str, at: str, registrant_id: str = "",
                email: str = "", uuid: str = "4444AAAiAAAAAiAiAiiAii==", pid: str = "",
                participant_uuid: str | None = None, customer_key: str = "") -> dict[str, Any]:
    """A participant_joined / participant_left body for the sample meeting."""
    body = sample("participant_joined" if kind == "joined" else "participant_left")
    obj = body["payload"]["object"]
    obj["uuid"] = uuid
    person = obj["participant"]
    person.update(user_id=user_id, user_name=name, registrant_id=registrant_id, email=email,
                  id=pid, customer_key=customer_key,
                  participant_uuid=participant_uuid or f"PU-{user_id}")
    person["join_time" if kind == "joined" else "leave_time"] = at
    return body
