"""Endpoint handlers: thin adapters that the runner drives (check → service; act → service →
dialect). ``app.ROUTES`` lists which path reaches which handler."""
