"""The local 'mail server': every message the tenant sent, as HTML and as JSON."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request

from ciam_emulator.store import OutboxMessage
from ciam_emulator.web.common import emulator, html_page

blueprint = Blueprint("outbox", __name__)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _as_json(message: OutboxMessage) -> dict[str, object]:
    return {
        "id": message.id,
        "to": message.to,
        "purpose": message.purpose,
        "code": message.code,
        "subject": message.subject,
        "sent_at": _iso(message.sent_at),
    }


@blueprint.get("/_emulator/outbox.json")
def outbox_json() -> Response:
    messages = emulator().store.list_outbox(request.args.get("to") or None)
    response = jsonify([_as_json(message) for message in messages])
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/_emulator/outbox")
def outbox_page() -> Response:
    messages = [_as_json(message) for message in emulator().store.list_outbox(request.args.get("to") or None)]
    return html_page("outbox.html", messages=messages, tenant=None)


@blueprint.get("/")
def index() -> Response:
    emu = emulator()
    return html_page("index.html", tenants=emu.store.list_tenants(), base_url=emu.base_url, tenant=None)
