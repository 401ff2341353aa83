-- hubbub's initial schema. Portable SQL: the same file runs on SQLite and PostgreSQL.
-- Ids come from the counters table, never from engine-specific auto-increment, so that an
-- event id is taken inside the transaction that commits it: the counter row stays locked
-- until commit, and ids therefore become visible strictly in order (shared/DESIGN.md).

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('event', 0);
INSERT INTO counters (name, value) VALUES ('message', 0);
INSERT INTO counters (name, value) VALUES ('user', 0);
INSERT INTO counters (name, value) VALUES ('room', 0);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT UNIQUE,
    password_hash TEXT NOT NULL DEFAULT '',
    reputation BIGINT NOT NULL,
    is_moderator BOOLEAN NOT NULL DEFAULT FALSE,
    suspended_until BIGINT,
    about TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL DEFAULT 0,
    last_post BIGINT NOT NULL DEFAULT 0
);
-- Stack Exchange's system account, the actor of feed and notification events.
INSERT INTO users (id, name, email, reputation, created_at) VALUES (-2, 'Feeds', NULL, 1, 0);

CREATE TABLE rooms (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    access TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by BIGINT,
    last_activity BIGINT NOT NULL DEFAULT 0,
    message_count BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE room_access (
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    level TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE kicks (
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    kick_count BIGINT NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE memberships (
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    present BOOLEAN NOT NULL,
    joined_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    last_post BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, present);

CREATE TABLE messages (
    id BIGINT PRIMARY KEY,
    room_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    content TEXT NOT NULL,
    posted_at BIGINT NOT NULL,
    parent_id BIGINT,
    show_parent BOOLEAN NOT NULL DEFAULT FALSE,
    edits BIGINT NOT NULL DEFAULT 0,
    edited_at BIGINT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at BIGINT,
    deleted_by BIGINT,
    stars BIGINT NOT NULL DEFAULT 0,
    owner_stars BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_room ON messages (room_id, id);
CREATE INDEX messages_room_time ON messages (room_id, posted_at);
CREATE INDEX messages_user_room ON messages (user_id, room_id, id);

CREATE TABLE revisions (
    message_id BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    content TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (message_id, revision)
);

CREATE TABLE stars (
    message_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX stars_user_time ON stars (user_id, at);

CREATE TABLE pins (
    message_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);

CREATE TABLE events (
    id BIGINT PRIMARY KEY,
    event_type INTEGER NOT NULL,
    time_stamp BIGINT NOT NULL,
    room_id BIGINT,
    user_id BIGINT,
    target_user_id BIGINT,
    message_id BIGINT,
    body TEXT NOT NULL
);
CREATE INDEX events_room ON events (room_id, id);
CREATE INDEX events_target ON events (target_user_id, id);
CREATE INDEX events_message ON events (message_id, id);

CREATE TABLE inbox (
    user_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    room_id BIGINT NOT NULL,
    unread BOOLEAN NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
CREATE INDEX inbox_unread ON inbox (user_id, unread);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    fkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
