"""Incidents: related alerts gathered into one case, with lifecycle, SLA, audit and export."""
