"""The HTTP edge below the handlers: reading a request into a ``Call``, the one request flow
(``runner``), body limits and server-rendered pages. It decides nothing about OAuth."""
