-- Socket URLs handed out by /ws-auth and /realtime/auth and not opened yet. Opening one
-- takes its row (a URL opens one socket, once, whichever node it reaches); access changes,
-- kicks, suspensions, logging out and password changes delete the rows they revoke.
-- depends: 0003.conversations

INSERT INTO counters (name, value) VALUES ('socket_token', 0);

CREATE TABLE socket_tokens (
    token_hash TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    room_id BIGINT,
    session_key TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX socket_tokens_user ON socket_tokens (user_id, seq);
CREATE INDEX socket_tokens_room ON socket_tokens (room_id);
CREATE INDEX socket_tokens_expiry ON socket_tokens (expires_at);
