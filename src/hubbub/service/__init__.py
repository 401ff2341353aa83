"""The operations users perform: the only code that appends events and changes state."""
