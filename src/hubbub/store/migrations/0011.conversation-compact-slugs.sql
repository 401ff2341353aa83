-- Bookmarks are found, and kept unique, by their slug without hyphens (service/conversations.py).
-- Without an index on that form each look-up scanned the room's bookmarks, and making one probed
-- once per earlier bookmark of the same title: 3.7 s for the 3,001st bookmark titled "x".
-- depends: 0010.ping-keys

CREATE INDEX conversations_compact_slug ON conversations (room_id, (REPLACE(slug, '-', '')));
