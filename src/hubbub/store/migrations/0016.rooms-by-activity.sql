-- The rooms directory, most recently active first, read a page at a time in that order
-- (service/browse.py). It read the first 1,000 rooms by id and sorted those, so on a node with
-- more rooms the newest never showed up.
-- depends: 0015.user-message-counts

CREATE INDEX rooms_activity ON rooms (last_activity DESC, id DESC);
