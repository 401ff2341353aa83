-- Direct conversations, contacts and presence (core/direct.py), and each user's channel: a dense
-- per-user sequence of entries (a direct message in or out, a typing notice), numbered in the
-- transaction that appends the event (shared/protocol/comet.md §C.10).
-- depends: 0005.socket-tokens

INSERT INTO counters (name, value) VALUES ('direct_message', 0);

-- user_id's stance towards other_id: 'want' (asks for or accepts the contact) or 'block'.
CREATE TABLE contacts (
    user_id BIGINT NOT NULL,
    other_id BIGINT NOT NULL,
    stance TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (user_id, other_id)
);
CREATE INDEX contacts_other ON contacts (other_id, user_id);

-- low_id/high_id: the pair's two user ids in order, so one index serves a conversation's history.
CREATE TABLE direct_messages (
    id BIGINT PRIMARY KEY,
    sender_id BIGINT NOT NULL,
    recipient_id BIGINT NOT NULL,
    low_id BIGINT NOT NULL,
    high_id BIGINT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    sent_ms BIGINT NOT NULL,
    client_time BIGINT,
    client_id TEXT,
    event_id BIGINT NOT NULL,
    UNIQUE (sender_id, client_id)
);
CREATE INDEX direct_messages_pair ON direct_messages (low_id, high_id, id);
CREATE INDEX direct_messages_recipient ON direct_messages (recipient_id, sender_id, id);

-- How far user_id has read other_id's messages to them (a direct message id).
CREATE TABLE direct_reads (
    user_id BIGINT NOT NULL,
    other_id BIGINT NOT NULL,
    read_through BIGINT NOT NULL,
    PRIMARY KEY (user_id, other_id)
);

-- A channel's bounds: entries first_seq .. next_seq - 1 are kept.
CREATE TABLE channel_heads (
    user_id BIGINT PRIMARY KEY,
    next_seq BIGINT NOT NULL,
    first_seq BIGINT NOT NULL
);

CREATE TABLE channel_entries (
    user_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (user_id, seq)
);

-- state is what contacts see (offline while invisible); the times are Unix seconds.
CREATE TABLE presence (
    user_id BIGINT PRIMARY KEY,
    state TEXT NOT NULL,
    seen_until BIGINT NOT NULL,
    active_at BIGINT NOT NULL,
    visible BOOLEAN NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX presence_live ON presence (state, seen_until);

-- What each client session's last buddy list showed as available (user id -> idle), so the next
-- one can say what changed (comet's listChanged and wasAvailableIDs), whichever node answers it.
CREATE TABLE buddy_list_snapshots (
    session_key TEXT PRIMARY KEY,
    available TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX buddy_list_snapshots_age ON buddy_list_snapshots (updated_at);

-- A user's own events (sent messages, presence), for the direct-conversation event stream.
CREATE INDEX events_user ON events (user_id, id);
