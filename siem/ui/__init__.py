"""Terminal output: rich tables for alerts and incidents, and the Textual triage app."""
