"""The OpenAPI 3.0 description of the streams JSON API, served at ``/api/v1/openapi.json``.

Written by hand next to the handlers (``api.py``) and checked against the running
server by schemathesis in the test suite, so the two cannot drift apart unseen.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = ["openapi_document"]

_ERROR: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_FLAGS: Final = {
    "data_pulling": {"type": "boolean"},
    "data_pushing": {"type": "boolean"},
    "data_incoming": {"type": "boolean"},
}
_STATUS_FLAGS: Final = {"type": "object", "required": list(_FLAGS), "properties": _FLAGS}
_USER: Final = {
    "type": "object",
    "required": ["id", "username"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "access_token": {"type": "string", "pattern": "^[0-9A-F]{20}$"},
    },
}
_ACCOUNT: Final = {
    "type": "object",
    "required": ["id", "user_id", "network", "name", "slug", "settings"],
    "properties": {
        "id": {"type": "integer"},
        "user_id": {"type": "integer"},
        "network": {"type": "string"},
        "name": {"type": "string"},
        "slug": {"type": "string"},
        "http_url": {"type": "string", "nullable": True},
        "settings": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_SHARE: Final = {
    "type": "object",
    "required": ["chat_level", "metadata_level", "user"],
    "properties": {
        "chat_level": {"type": "integer", "minimum": 0, "maximum": 2},
        "metadata_level": {"type": "integer", "minimum": 0, "maximum": 2},
        "user": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
    },
}
_STREAM: Final = {
    "type": "object",
    "required": [
        "id",
        "user_id",
        "name",
        "slug",
        "live",
        "status",
        "chat_level",
        "metadata_level",
        "accounts",
        "shares",
    ],
    "properties": {
        "id": {"type": "integer"},
        "user_id": {"type": "integer"},
        "name": {"type": "string"},
        "slug": {"type": "string"},
        "uuid": {"type": "string"},
        "live": {"type": "boolean"},
        "status": {"$ref": "#/components/schemas/StatusFlags"},
        "chat_level": {"type": "integer"},
        "metadata_level": {"type": "integer"},
        "accounts": {"type": "array", "items": {"$ref": "#/components/schemas/Account"}},
        "shares": {"type": "array", "items": {"$ref": "#/components/schemas/Share"}},
        "webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}
_EVENTS: Final = ["stream:start", "stream:end", "comment:in"]
_WEBHOOK: Final = {
    "type": "object",
    "required": ["id", "stream_id", "url", "notes", "type", "events", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "stream_id": {"type": "integer"},
        "url": {"type": "string"},
        "notes": {"type": "string"},
        "type": {"type": "string", "enum": ["discord", "raw"]},
        "events": {
            "type": "object",
            "required": _EVENTS,
            "properties": {name: {"type": "boolean"} for name in _EVENTS},
        },
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}
_WEBHOOK_BODY: Final = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "maxLength": 2048},
        "type": {"type": "string", "enum": ["discord", "raw"]},
        "notes": {"type": "string", "maxLength": 500},
        "events": {
            "oneOf": [
                {"type": "array", "items": {"type": "string", "enum": _EVENTS}},
                {"type": "object", "additionalProperties": {"type": "boolean"}},
            ]
        },
    },
}
_STREAM_BODY: Final = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "accounts": {
            "type": "array",
            "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
        },
        "shares": {"type": "array", "items": {"$ref": "#/components/schemas/Share"}},
    },
}
_ACCOUNT_BODY: Final = {
    "type": "object",
    "properties": {
        "network": {"type": "string", "enum": ["hubbub", "irc", "twitch", "youtube", "facebook", "mixer"]},
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "http_url": {"type": "string"},
        "settings": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_MESSAGE_BODY: Final = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"type": "string", "enum": ["text", "emote"]},
        "text": {"type": "string"},
        "markdown": {"type": "string"},
        "network": {"type": "string"},
        "network_icon": {"type": "string"},
        "network_icon_css": {"type": "string"},
        "from": {"type": "object"},
        "account_id": {"type": "integer"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _wrapped(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: schema}}


_ERRORS: Final = {
    "400": {"description": "refused (the original's error body)", **_json(_ref("Error"))},
    "401": {"description": "no valid token, or not allowed to edit", **_json(_ref("Error"))},
    "413": {"description": "body too large", **_json(_ref("Error"))},
    "429": {"description": "rate limited", **_json(_ref("Error"))},
}
_ID: Final = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
_HOOK: Final = {"name": "hook", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}


_BRIDGED: Final = {
    "type": "object",
    "required": ["accounts"],
    "properties": {"accounts": {"type": "array", "items": {"$ref": "#/components/schemas/Account"}}},
}
_BRIDGE_BODY: Final = {
    "type": "object",
    "required": ["accounts"],
    "properties": {
        "accounts": {
            "type": "array",
            "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
        }
    },
}


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    path_id: bool = False,
    hook_id: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {"200": {"description": "done", **_json(ok)}, **copy.deepcopy(_ERRORS)},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    if path_id:
        operation["parameters"] = [dict(_ID), *([dict(_HOOK)] if hook_id else [])]
    return operation


def openapi_document() -> dict[str, Any]:
    ok_status = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "hubbub streams API (multistreamer's JSON API)",
            "version": "1",
            "description": "docs/dialects/streams.md. Tokens: GET /api/v1/auth with HTTP Basic.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {
                "Error": _ERROR,
                "StatusFlags": _STATUS_FLAGS,
                "User": _USER,
                "Account": _ACCOUNT,
                "Share": _SHARE,
                "Stream": _STREAM,
                "Webhook": _WEBHOOK,
            },
        },
        "paths": {
            "/api/v1/auth": {
                "get": {
                    "summary": "a token for an e-mail address and password",
                    "security": [{"basic": []}],
                    "responses": {
                        "200": {
                            "description": "the user's token",
                            **_json(_wrapped("token", {"type": "string", "pattern": "^[0-9A-F]{20}$"})),
                        },
                        "401": {"description": "bad credentials", **_json(_ref("Error"))},
                        "429": {"description": "too many attempts", **_json(_ref("Error"))},
                    },
                }
            },
            "/api/v1/profile": {"get": _op("the token's user, with its token", _ref("User"))},
            "/api/v1/user": {"get": _op("every user", _wrapped("users", {"type": "array", "items": _ref("User")}))},
            "/api/v1/users": {"get": _op("every user", _wrapped("users", {"type": "array", "items": _ref("User")}))},
            "/api/v1/account": {
                "get": _op("the user's accounts", _wrapped("accounts", {"type": "array", "items": _ref("Account")})),
                "post": _op("add an account", _wrapped("account", _ref("Account")), body=_ACCOUNT_BODY),
            },
            "/api/v1/account/{id}": {
                "get": _op("one account", _wrapped("account", _ref("Account")), path_id=True),
                "post": _op(
                    "change an account", _wrapped("account", _ref("Account")), body=_ACCOUNT_BODY, path_id=True
                ),
                "delete": _op("remove an account", ok_status, path_id=True),
            },
            "/api/v1/stream": {
                "get": _op(
                    "the user's and shared streams", _wrapped("streams", {"type": "array", "items": _ref("Stream")})
                ),
                "post": _op("create a stream", _wrapped("stream", _ref("Stream")), body=_STREAM_BODY),
            },
            "/api/v1/stream/{id}": {
                "get": _op("one stream", _wrapped("stream", _ref("Stream")), path_id=True),
                "post": _op("edit a stream", _wrapped("stream", _ref("Stream")), body=_STREAM_BODY, path_id=True),
                "patch": _op(
                    "start or stop pulling/pushing",
                    _wrapped("status", _ref("StatusFlags")),
                    body={"type": "object", "properties": dict(_FLAGS)},
                    path_id=True,
                ),
                "delete": _op("delete a stream", ok_status, path_id=True),
            },
            "/api/v1/stream/{id}/msg": {
                "post": _op("inject a chat message", ok_status, body=_MESSAGE_BODY, path_id=True),
            },
            "/api/v1/stream/{id}/webhook": {
                "get": _op(
                    "the stream's webhooks (editors)",
                    _wrapped("webhooks", {"type": "array", "items": _ref("Webhook")}),
                    path_id=True,
                ),
                "post": _op("add a webhook", _wrapped("webhook", _ref("Webhook")), body=_WEBHOOK_BODY, path_id=True),
            },
            "/api/v1/stream/{id}/webhook/{hook}": {
                "post": _op(
                    "change a webhook",
                    _wrapped("webhook", _ref("Webhook")),
                    body=_WEBHOOK_BODY,
                    path_id=True,
                    hook_id=True,
                ),
                "delete": _op("remove a webhook", ok_status, path_id=True, hook_id=True),
            },
            "/api/v1/room/{id}/bridge": {
                "get": _op("the accounts an ordinary room is bridged to", _BRIDGED, path_id=True),
                "post": _op(
                    "bridge a room to these accounts ([] unbridges)", _BRIDGED, body=_BRIDGE_BODY, path_id=True
                ),
            },
        },
    }
