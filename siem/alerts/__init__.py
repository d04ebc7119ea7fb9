"""Alerts: rule matches turned into alerts (grouping and suppression build on this)."""
