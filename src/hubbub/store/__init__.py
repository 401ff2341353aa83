"""Storage engines behind the ``Store`` protocol (see ``store/base.py``)."""
