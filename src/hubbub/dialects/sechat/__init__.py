"""The sechat dialect: Stack Exchange chat's HTTP form API, pages and event socket."""
