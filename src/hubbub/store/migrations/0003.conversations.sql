-- Bookmarked conversations: a titled run of one room's messages (POST /conversation/new).
-- depends: 0002.api-tokens

INSERT INTO counters (name, value) VALUES ('conversation', 0);

CREATE TABLE conversations (
    id BIGINT PRIMARY KEY,
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    first_message_id BIGINT NOT NULL,
    last_message_id BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (room_id, slug)
);
