"""Settings: every operational limit with a name, a unit and a default.

Values come from, in order of precedence: command-line flags, ``HUBBUB_<NAME>``
environment variables, a TOML file (``--config``/``HUBBUB_CONFIG``, else
``<data dir>/hubbub.toml`` when it exists), and the defaults below. A TOML table
flattens into its keys: ``[realtime] hb_interval = 60`` sets ``realtime_hb_interval``.
Protocol rules (the 500-character limit, the edit window) are not settings; they
live in ``hubbub.core.rules``. docs/configuration.md lists every setting.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from hubbub.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX: Final = "HUBBUB_"
DEFAULT_DATA_DIR: Final = Path("hubbub-data")


# How SQLite commits (docs/configuration.md): "normal" writes each commit to the WAL file and
# flushes it to the disk at checkpoints; "full" waits for the disk at every commit.
SqliteSynchronous = Literal["normal", "full"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    # Where and how to serve.
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = 8080  # HTTP: pages, form API, long-poll; 0 picks a free port
    ws_port: int = 8081  # websocket gateway; 0 picks a free port
    database: str = ""  # "" = hubbub.sqlite3 in data_dir, sqlite:///path/to/file, or postgresql://...
    sqlite_synchronous: SqliteSynchronous = "normal"  # or "full": each commit waits for the disk
    postgres_read_connections: int = 4  # per node: reader threads, one connection each; as many for lookups
    bus: str = "memory:"  # memory: (in-process; one node) or redis://host:6379/0 (one node of several)
    redis_prefix: str = "hubbub:"  # every Redis key and channel starts with this; one per deployment
    bus_reconnect_seconds: float = 1.0  # Redis lost: retry this often, reading the store meanwhile
    bus_timeout_seconds: float = 2.0  # a Redis call (publish, ping, rate-limit check) gives up after this
    bus_publish_backlog: int = 1000  # batches kept for a resend while Redis is unreachable (oldest dropped)
    ws_public_url: str = ""  # "" = ws://<host the client used>:<ws_port>; behind a proxy e.g. wss://chat.example
    public_url: str = ""  # where people open hubbub, e.g. https://chat.example.org; "" = http://<host>:<port>
    allowed_hosts: str = "localhost,127.0.0.1,[::1]"  # Host header values answered (comma-separated, or "*")
    secure_cookies: bool = False  # Secure cookies even when nothing else says TLS (public_url https, ...)
    log_level: str = "info"
    log_repeat_burst: int = 10  # lines of one kind (call site and message) let through per window ...
    log_repeat_window: float = 60.0  # ... seconds; the rest are counted and reported in one line
    log_format: str = "text"  # "text" (one line per record) or "json" (one JSON object per line)
    trusted_proxies: str = ""  # proxies whose X-Forwarded-For is believed: "127.0.0.1, 10.0.0.0/8"
    metrics_allowed: str = "127.0.0.0/8, ::1"  # client addresses that may read GET /metrics; "" = anyone

    # Accounts.
    new_user_reputation: int = 20  # enough to talk in public rooms (rules.MIN_REPUTATION_TO_TALK)
    allow_signup: bool = True  # the web UI's sign-up form
    session_ttl_days: int = 30
    ws_token_ttl_seconds: int = 120  # a /ws-auth URL must be opened within this time
    ws_tokens_per_user: int = 32  # unopened socket URLs a user may hold; asking for more revokes the oldest
    access_journal_size: int = 10_000  # recent access changes (and opened socket URLs) each node remembers
    password_time_cost: int = 3  # Argon2id passes (argon2-cffi's default) ...
    password_memory_kib: int = 65_536  # ... and memory; hashes re-hash on login when these change
    password_hash_threads: int = 2  # hashes computed at once, off the event loop (each holds password_memory_kib)
    password_hash_queue: int = 32  # hashes waiting for a thread; beyond it a login is refused "try again in 1 second"
    sessions_per_user: int = 20  # live logins per account; logging in once more ends the oldest
    login_attempts_per_minute: int = 10  # per client address and account, right password or wrong
    login_attempts_per_account_per_minute: int = 30  # per account, from all addresses together
    login_attempts_per_address_per_minute: int = 300  # per client address, all accounts (a proxy is one address)

    # Messages.
    max_message_chars: int = 16_384  # cap for multi-line messages (single-line: 500, a rule)
    message_rate_burst: int = 10  # messages a user may post back to back ...
    message_rate_per_second: float = 1.0  # ... then this many per second (HTTP 409 beyond)
    duplicate_window_seconds: int = 60  # same text again within this time -> {"id": null}
    stars_per_day: int = 20  # per user, reset at 00:00 UTC
    pingable_days: int = 7  # users seen in a room this recently can be pinged there

    # Direct messages, channels and presence (core/direct.py, docs/direct-messages.md).
    comet_channel_retention: int = 86_400  # seconds a channel entry is kept at least ...
    comet_channel_retention_entries: int = 1000  # ... and the newest this many are kept whatever their age
    presence_seen_seconds: int = 110  # a poll, socket or page keeps its user online this long (2x the longest poll)
    presence_idle_seconds: int = 600  # no send, typing or page for this long: online becomes idle
    presence_sweep_seconds: float = 5.0  # how often each node turns lapsed presence into idle/offline events
    comet_poll_timeout_min: float = 45.0  # a waiting poll is answered "continue" after a random time ...
    comet_poll_timeout_max: float = 55.0  # ... between these (seconds; never more than 55)
    comet_offline_policy: str = "error"  # send.php to an offline contact: "error" (1356003) or "deliver"
    comet_cookie_domain: str = ""  # Domain of the cookies /login.php sets ("" = host-only), e.g. ".chat.example"
    comet_max_waiters: int = 20_000  # long polls waiting on channels at once, per node; beyond -> answered at once
    comet_max_waiters_per_user: int = 8  # ... and per user (tabs); beyond -> answered at once ("continue")
    direct_poll_hold_seconds: float = 25.0  # the web UI's and SDK's /direct/events?wait=1 answer within this
    direct_poll_max_waiters: int = 20_000  # such polls waiting at once, per node; beyond -> answered at once
    direct_poll_max_waiters_per_user: int = 8  # ... and per user (tabs, programs); beyond -> answered at once
    typing_rate_burst: int = 20  # typing notices a user may send back to back ...
    typing_rate_per_second: float = 2.0  # ... then this many per second

    # Reading.
    history_default_count: int = 100  # /chats/{room}/events without msgCount
    history_max_count: int = 500  # msgCount above this is clamped
    poll_max_events: int = 500  # events per room in one /events answer

    # HTTP.
    max_form_bytes: int = 256 * 1024  # request bodies above this get HTTP 413
    http_head_timeout: float = 10.0  # seconds for a whole request head, from connect or its first byte; 0 = none
    http_body_timeout: float = 10.0  # seconds a request body may take before http_body_min_rate applies ...
    http_body_min_rate: float = 500.0  # ... then bytes per second it must average (408 below); 0 = no check
    http_keepalive_timeout: float = 75.0  # seconds an idle keep-alive connection is kept
    http_max_connections_per_ip: int = 256  # open HTTP connections per address (IPv6: per /64); 0 = no cap
    publish_max_bytes: int = 64 * 1024  # a POST /api/v1/publish body
    publish_max_depth: int = 32  # arrays/objects nested in a publish body; deeper -> 400 (keep well under 900)

    # Connections, both ports together: 0 = the descriptor limit (ulimit -n) minus a reserve of
    # max(64, limit / 8) for the database, logs and files being sent; at it, neither port accepts.
    max_connections: int = 0

    # Websockets (gateway port and HTTP port alike).
    ws_allowed_origins: str = "*"  # "*" or a comma-separated list of origins; others get HTTP 403
    ws_send_buffer_bytes: int = 512 * 1024  # unsent bytes per connection before it is closed (1008)
    ws_socket_send_buffer_bytes: int = 0  # kernel SO_SNDBUF per socket; 0 keeps the kernel's auto-tuning
    ws_socket_receive_buffer_bytes: int = 16 * 1024  # kernel SO_RCVBUF per websocket: bounds the frames one read brings
    ws_max_frame_bytes: int = 64 * 1024  # largest inbound frame
    ws_close_timeout: float = 10.0  # seconds a closing websocket gets to flush its queue and close frame
    ws_max_connections_per_ip: int = 1000  # beyond this a new connection is closed with 1013; 0 = no cap
    sechat_replay_max_bytes: int = 256 * 1024  # history one socket opening may replay from ?l= (then 1013)
    sechat_keepalive: float = 25.0  # seconds; an idle event socket gets {"r<room>":{"t":..,"d":0}} this often
    realtime_hb_interval: float = 300.0  # seconds between {"action":"hb"} heartbeats
    realtime_hb_data: str = "hb"  # the heartbeat's data; "" for clients of the 2014 protocol
    realtime_close_silent: bool = True  # close a client that sent nothing for a whole heartbeat interval
    realtime_max_topics: int = 1000  # subscriptions per connection; further subscribes are ignored
    realtime_known_rooms: int = 10_000  # rooms whose openness the feed remembers for room-activity subscribes
    streams_ping_interval: float = 30.0  # seconds of inbound silence before a streams socket gets a ping
    streams_max_missed_pings: int = 2  # pings left unanswered (no frame at all) before the socket is closed
    streams_replay_max_bytes: int = 256 * 1024  # chat one streams socket opening may replay from ?since=
    streams_bridges: bool = True  # run network bridges here (in a cluster, leases keep one reader per account)
    streams_viewcount_interval: float = 60.0  # seconds between a bridge's viewer counts (at least 1)
    streams_rtmp_secret: str = ""  # if set, nginx-rtmp callbacks must carry ?secret=<this>
    webhooks: bool = True  # post stream webhooks from this node (one node of a cluster at a time: a lease)
    webhooks_timeout: float = 10.0  # seconds one webhook request may take, connecting included
    webhooks_retries: int = 3  # attempts after the first when a receiver does not answer, answers 5xx or 429
    webhooks_retry_seconds: float = 1.0  # wait before the first retry; doubles for each further one
    webhooks_retry_after_max: float = 60.0  # longest wait a 429's Retry-After (or the doubling) gets
    webhooks_queue_max: int = 1000  # webhook events and calls waiting on a node; past it new ones are dropped
    webhooks_queue_per_hook: int = 100  # calls waiting for one hook; past it that hook's new ones are dropped

    # The IRC gateway (docs/irc.md, "Gateway").
    irc_port: int | None = None  # None = off; 0 picks a free port; 6667 is IRC's, 6697 with TLS
    irc_tls_cert: str = ""  # PEM certificate chain: with irc_tls_key, the IRC port speaks TLS only
    irc_tls_key: str = ""  # PEM private key of irc_tls_cert
    irc_server_name: str = "hubbub"  # the server name in every reply and in users' hostmasks
    irc_motd: str = ""  # message of the day; "" sends 422 (no MOTD); lines split on "\n"
    irc_send_buffer_bytes: int = 256 * 1024  # unsent bytes per IRC connection before it is dropped
    irc_ping_interval: float = 90.0  # seconds of silence before the server PINGs; as long again to answer
    irc_registration_timeout: float = 60.0  # seconds a connection may take to log in
    irc_queued_commands: int = 32  # commands waiting per connection; beyond it the server stops reading it
    irc_command_burst: int = 100  # commands needing the service a connection may send at once ...
    irc_commands_per_second: float = 10.0  # ... and after that per second; beyond: "Excess Flood", closed
    irc_socket_send_buffer_bytes: int = 0  # kernel SO_SNDBUF per IRC socket; 0 keeps the kernel's auto-tuning


def _coerce(name: str, hint: Any, raw: object) -> object:
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")
    try:
        if hint is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(str(raw))
        if hint is float:
            return float(str(raw))
        if hint is Path:
            return Path(str(raw)).expanduser()
        if hint is str:
            if not isinstance(raw, str):  # a TOML number, boolean, array or date is a mistake here
                raise ValueError(raw)
            return raw
    except ValueError:
        raise ConfigError(f"{name}: expected {hint.__name__}, got {raw!r}") from None
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        if raw not in choices:
            raise ConfigError(f"{name}: expected {' or '.join(map(str, choices))}, got {raw!r}")
        return raw
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        if raw is None or raw == "":
            return None
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _coerce(name, inner[0], raw)
    raise ConfigError(f"{name}: unsupported setting type {hint!r}")


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}".replace("-", "_")
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def load_settings(
    overrides: Mapping[str, object] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build ``Settings`` from flags (``overrides``), environment, TOML file and defaults.

    Raises:
        ConfigError: An unknown key in the TOML file, or a value of the wrong type.
    """
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    hints = typing.get_type_hints(Settings)
    names = [field.name for field in dataclasses.fields(Settings)]

    from_env = {name: environ[ENV_PREFIX + name.upper()] for name in names if ENV_PREFIX + name.upper() in environ}

    if config_file is None and (path := overrides.get("config") or environ.get(ENV_PREFIX + "CONFIG")):
        config_file = Path(str(path))
    if config_file is None:
        data_dir = overrides.get("data_dir") or from_env.get("data_dir") or DEFAULT_DATA_DIR
        candidate = Path(str(data_dir)) / "hubbub.toml"
        config_file = candidate if candidate.is_file() else None
    from_file: dict[str, Any] = {}
    if config_file is not None:
        try:
            from_file = _flatten(tomllib.loads(config_file.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read configuration file {config_file}: {exc}") from exc
        unknown = sorted(set(from_file) - set(names))
        if unknown:
            raise ConfigError(f"{config_file}: unknown settings {', '.join(unknown)}")

    values: dict[str, object] = {}
    for name in names:
        for source in (overrides, from_env, from_file):
            if name in source:
                values[name] = _coerce(name, hints[name], source[name])
                break
    return Settings(**values)  # type: ignore[arg-type]
