"""Prometheus metrics, defined once. Counters are per process; scrape every process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ALERTS_RECEIVED = Counter("pager_alerts_received_total", "Alerts received, by source.", ["source"])
INCIDENTS_OPENED = Counter("pager_incidents_opened_total", "Incidents opened.")
ESCALATIONS = Counter(
    "pager_escalations_total", "Escalation steps taken by ack timeouts (a level notified)."
)
NOTIFICATIONS_SENT = Counter(
    "pager_notifications_sent_total", "Notifications delivered, by channel.", ["channel"]
)
NOTIFICATIONS_LOGGED = Counter(
    "pager_notifications_logged_total",
    "Notifications written to the log, not delivered: no provider is configured for their "
    "channel (PAGER_SMTP_URL, PAGER_TWILIO_*), by channel.",
    ["channel"],
)
NOTIFICATIONS_FAILED = Counter(
    "pager_notifications_failed_total",
    "Notifications that failed for good (a permanent failure, or transient ones past "
    "PAGER_DELIVERY_MAX_SECONDS), by channel.",
    ["channel"],
)
DELIVERY_ATTEMPTS = Counter(
    "pager_delivery_attempts_total",
    "Delivery attempts, by channel and outcome.",
    ["channel", "outcome"],
)
TIMER_LATENESS = Histogram(
    "pager_timer_lateness_seconds",
    "How long after its due time an ack timer was handled.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
OPEN_INCIDENTS = Gauge("pager_open_incidents", "Incidents triggered or acknowledged, not resolved.")
