-- Only events that target a user are found through events_target (a user's pings and replies,
-- direct messages): most events, every plain post's included, target nobody, and each one still
-- wrote a (NULL, id) entry into the index, a WAL page at every commit. Both engines read the
-- partial index for "target_user_id = ?", which implies the condition.
-- depends: 0017.room-slugs

DROP INDEX events_target;
CREATE INDEX events_target ON events (target_user_id, id) WHERE target_user_id IS NOT NULL;
