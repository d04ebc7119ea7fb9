"""Sources: syslog listeners (UDP, TCP, TLS), file tailing; see ``contract.py`` for their API."""
