-- Stream webhooks (multistreamer's, streams.md §B.8): URLs a stream's editors register to be
-- told when the stream goes live or offline and when a network's comment arrives.
-- ``events`` is the hook's event names, sorted and comma-separated (core/webhooks.py).
-- depends: 0007.streams

INSERT INTO counters (name, value) VALUES ('webhook', 0);

CREATE TABLE stream_webhooks (
    id BIGINT PRIMARY KEY,
    stream_id BIGINT NOT NULL REFERENCES streams (id),
    url TEXT NOT NULL,
    notes TEXT NOT NULL,
    hook_type TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX stream_webhooks_stream ON stream_webhooks (stream_id, id);
