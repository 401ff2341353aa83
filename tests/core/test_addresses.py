"""core/addresses.py: X-Forwarded-For is believed only as far as trusted proxies wrote it."""

from __future__ import annotations

import pytest

from hubbub.core.addresses import ClientAddresses, parse_networks
from hubbub.errors import ConfigError

BEHIND_NGINX = ClientAddresses(parse_networks("trusted_proxies", "127.0.0.1, 10.0.0.0/8, ::1"))


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert ClientAddresses().of("203.0.113.9", ["198.51.100.1"]) == "203.0.113.9"


def test_a_trusted_proxy_passes_on_the_address_it_saw() -> None:
    assert BEHIND_NGINX.of("127.0.0.1", ["198.51.100.7"]) == "198.51.100.7"


def test_an_untrusted_peer_cannot_claim_another_address() -> None:
    assert BEHIND_NGINX.of("203.0.113.9", ["127.0.0.1"]) == "203.0.113.9"


def test_hops_are_read_from_the_right_and_a_forged_left_part_is_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the edge proxy appended the client's real address,
    # an inner proxy (10.0.0.5) appended the edge's, and nginx on 127.0.0.1 connected to us.
    assert BEHIND_NGINX.of("127.0.0.1", ["1.2.3.4, 198.51.100.7, 10.0.0.5"]) == "198.51.100.7"
    assert BEHIND_NGINX.of("127.0.0.1", ["1.2.3.4", "198.51.100.7,10.0.0.5"]) == "198.51.100.7"


def test_a_chain_of_only_trusted_proxies_gives_the_leftmost() -> None:
    assert BEHIND_NGINX.of("127.0.0.1", ["10.0.0.9, 10.0.0.5"]) == "10.0.0.9"


def test_garbage_in_the_header_stops_at_the_last_vouched_hop() -> None:
    assert BEHIND_NGINX.of("127.0.0.1", ["198.51.100.7, not-an-ip, 10.0.0.5"]) == "10.0.0.5"
    assert BEHIND_NGINX.of("127.0.0.1", ["unknown"]) == "127.0.0.1"
    assert BEHIND_NGINX.of("127.0.0.1", []) == "127.0.0.1"


def test_addresses_are_normalised() -> None:
    assert BEHIND_NGINX.of("::ffff:127.0.0.1", ["[2001:DB8::1]:443"]) == "2001:db8::1"
    assert BEHIND_NGINX.of("::1", [" 198.51.100.7 "]) == "198.51.100.7"


def test_a_peer_that_is_no_address_is_kept_as_it_is() -> None:
    assert BEHIND_NGINX.of(None) == "unknown"
    assert BEHIND_NGINX.of("/run/hubbub.sock") == "/run/hubbub.sock"


def test_a_bad_network_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ConfigError, match=r"trusted_proxies: 'nginx' is not an IP address or network"):
        parse_networks("trusted_proxies", "127.0.0.1, nginx")
