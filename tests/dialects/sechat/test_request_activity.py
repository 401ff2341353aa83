"""What a signed-in HTTP request says about its user's presence (sechat/http.py ``request_activity``)."""

from __future__ import annotations

from hubbub.core.direct import Activity
from hubbub.dialects.sechat.http import request_activity


def test_posting_a_message_and_opening_a_page_are_activity() -> None:
    assert request_activity("POST", "/chats/4/messages/new", {}) is Activity.ACTIVE
    assert request_activity("GET", "/rooms/4", {"Accept": "text/html,application/xhtml+xml"}) is Activity.ACTIVE


def test_polls_reads_and_bot_calls_are_sightings_only() -> None:
    assert request_activity("POST", "/events", {}) is Activity.SEEN
    assert request_activity("POST", "/chats/4/events", {}) is Activity.SEEN
    assert request_activity("GET", "/rooms/4", {"Accept": "*/*"}) is Activity.SEEN
    assert request_activity("POST", "/ajax/presence/update.php", {}) is Activity.SEEN
