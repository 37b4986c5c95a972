"""The `.proto` files of the simulator protocol, shipped for reference; `messages.py` builds the same messages."""
