-- Lists a room's info page shows, read a page at a time (web/room_pages.py). The room's bookmarks
-- were read whole and sorted by id (anyone who may post can bookmark), and its owners' list of
-- people to grant access read every member seen lately; each is now the newest or most recently
-- seen few, read in order from these indexes.
-- depends: 0013.direct-pairs-by-high-id

CREATE INDEX conversations_room ON conversations (room_id, id);
CREATE INDEX memberships_seen ON memberships (room_id, last_seen DESC, user_id);
