"""Retro-hunting: Sigma rules run over events already stored (``siem hunt``)."""
