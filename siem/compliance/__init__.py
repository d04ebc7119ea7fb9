"""Declarative compliance checks (YAML in ``rules/compliance/``) run over the store by ``siem scan``.

A check counts events matching a search-language query over a time window, or runs a built-in
measurement (silent sources, retention, failed-login ratio, overdue critical incidents), and
compares the measured value with its threshold. Profiles map checks to CIS Controls v8
safeguards (CIS Critical Security Controls Version 8, Center for Internet Security, 2021).
"""
