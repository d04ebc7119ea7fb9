"""Scheduled jobs (cron expressions) that ``siem run`` starts as ``siem`` subprocesses.

``config.py`` binds the ``schedule:`` section, ``cron.py`` computes run times (cronsim),
``state.py`` keeps each job's last run in the data directory, ``runner.py`` is the thread
that starts the jobs, ``systemd.py`` writes timer units for hosts that prefer systemd.
"""
