-- Each user's count of unread inbox items, kept beside the items (store/sql/log.py). A ping or
-- reply reports the target's new count (event 18), and counting the rows each time cost the
-- serial writer time in proportion to the items a user had never read: about 11 ms at 100,000.
-- Inbox items are never deleted, so the count changes only where they are added or read.
-- Acknowledging a message's ping (POST /messages/ack) finds the item by its message through
-- inbox_message, not by walking every item the user ever had.
-- depends: 0008.stream-webhooks

CREATE TABLE inbox_counts (
    user_id BIGINT PRIMARY KEY,
    unread BIGINT NOT NULL
);

INSERT INTO inbox_counts (user_id, unread)
SELECT user_id, COUNT(*) FROM inbox WHERE unread GROUP BY user_id;

CREATE INDEX inbox_message ON inbox (user_id, message_id);
