"""Notifications: e-mail to the IT department and ward officers, through a durable outbox.

Modules: ``config`` (the ``email:`` section; light, imported by siem.config), ``dispatcher``
(EmailDispatcher: routing, digests, rate limit), ``outbox`` (message files on disk),
``pending`` (alerts waiting for a digest or a storm summary), ``render`` (jinja2 bodies),
``smtp`` (Notifier protocol, SmtpNotifier).

Wiring in a long-running process::

    dispatcher = EmailDispatcher(config.email, data_dir / OUTBOX_DIR, language=config.language)
    dispatcher.submit(alerts, {alert_id: incident_id})   # from the alert stage; disk only
    dispatcher.tick()                                     # every few seconds, in its own thread
    dispatcher.flush(); dispatcher.drain()                # at shutdown (optional)

``tick()`` talks to the mail server (up to ``email.smtp.timeout`` per attempt), so call it
from a thread of its own, not from the pipeline's hot path.
"""
