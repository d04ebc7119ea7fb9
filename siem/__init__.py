"""siem: network security monitoring and SIEM toolkit."""

__version__ = "0.1.0"
