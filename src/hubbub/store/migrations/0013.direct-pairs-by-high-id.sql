-- A user's direct conversations are the pairs the user is the low or the high id of
-- (store/sql/direct.py). Only the low id was indexed (direct_messages_pair), so the "OR high_id"
-- walked every direct message on the node, between anyone: about 100,000 SQLite steps to list one
-- conversation among 20,000 messages others sent each other, against 200 without them. With both
-- ids indexed, the look-up reads the user's own messages only.
-- depends: 0012.present-members

CREATE INDEX direct_messages_high ON direct_messages (high_id, low_id, id);
