"""Transport: mutual TLS, the caller's identity from its certificate, and the gunicorn server."""
