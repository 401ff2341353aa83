-- Streams (the streams dialect, issue 10): a stream is a private room with network accounts
-- attached, a live state and per-network viewer counts; users have a streams API token.
-- Chat levels live in the room's access grants (core/streams.py maps them); stream_shares
-- keeps the share itself and its metadata level.
-- depends: 0005.socket-tokens

INSERT INTO counters (name, value) VALUES ('stream', 0);
INSERT INTO counters (name, value) VALUES ('network_account', 0);

CREATE TABLE access_tokens (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    token TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE streams (
    id BIGINT PRIMARY KEY,
    room_id BIGINT NOT NULL UNIQUE REFERENCES rooms (id),
    owner_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    stream_key TEXT NOT NULL UNIQUE,
    data_pulling BOOLEAN NOT NULL DEFAULT FALSE,
    data_pushing BOOLEAN NOT NULL DEFAULT FALSE,
    data_incoming BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX streams_owner ON streams (owner_id, id);

CREATE TABLE network_accounts (
    id BIGINT PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    network TEXT NOT NULL,
    name TEXT NOT NULL,
    http_url TEXT,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX network_accounts_owner ON network_accounts (owner_id, id);

CREATE TABLE stream_accounts (
    stream_id BIGINT NOT NULL REFERENCES streams (id),
    account_id BIGINT NOT NULL REFERENCES network_accounts (id),
    PRIMARY KEY (stream_id, account_id)
);
CREATE INDEX stream_accounts_account ON stream_accounts (account_id);

CREATE TABLE stream_shares (
    stream_id BIGINT NOT NULL REFERENCES streams (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    chat_level INTEGER NOT NULL,
    metadata_level INTEGER NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX stream_shares_user ON stream_shares (user_id);

CREATE TABLE stream_viewcounts (
    stream_id BIGINT NOT NULL REFERENCES streams (id),
    account_id BIGINT NOT NULL,
    viewer_count BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, account_id)
);

-- Which node runs a network bridge: one holder per (stream, account) across a cluster, for a
-- while; the holder renews it, and another node takes over when it lapses (bridges/manager.py).
CREATE TABLE bridge_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
