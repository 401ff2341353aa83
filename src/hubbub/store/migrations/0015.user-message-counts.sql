-- A user's undeleted messages, kept on the user's row: a profile page (anyone may open anyone's)
-- counted them with COUNT(*) over messages_user_room, a walk of every message the user ever
-- posted: about 8 ms on a reader thread at 20,000 messages, so a busy bot's page, opened in a
-- loop, kept the node's readers busy. Posting and deleting keep the count (service/messages.py,
-- as rooms.message_count is kept); this fills it once from the messages there are.
-- depends: 0014.room-lists

ALTER TABLE users ADD COLUMN message_count BIGINT NOT NULL DEFAULT 0;
UPDATE users SET message_count =
    (SELECT COUNT(*) FROM messages WHERE messages.user_id = users.id AND NOT messages.deleted);
