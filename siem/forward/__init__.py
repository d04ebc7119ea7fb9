"""Ward forwarders: a local pipeline whose sink is a disk buffer, sent to the centre over mutual TLS."""
