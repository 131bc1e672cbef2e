"""Strategy family module; see labella/al/strategies/__init__.py."""
