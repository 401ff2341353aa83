"""Cross-node pub/sub of appended events, behind the ``Bus`` protocol (see ``bus/base.py``)."""
