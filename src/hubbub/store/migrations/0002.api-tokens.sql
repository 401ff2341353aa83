-- Bearer tokens for programs that use hubbub's APIs (publishing into realtime topics first).
-- depends: 0001.initial-schema

INSERT INTO counters (name, value) VALUES ('api_token', 0);

CREATE TABLE api_tokens (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
