"""Settings from the environment (prefix PAGER_), parsed once at start-up."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGER_", extra="ignore")

    database_url: str = "sqlite:///./pager.db"
    log_level: str = "INFO"
    # Where people reach Pager (links in pages; Secure cookies when https). Unset, `pagerd
    # serve` and `pagerd api` use the address they listen on; `pagerd worker` falls back to
    # DEFAULT_PUBLIC_URL and says so.
    public_url: str | None = None
    secret_key: SecretStr | None = None
    # Web console sessions and ack links, signed with secret_key (or, when it is unset, with
    # a key Pager makes once and keeps in the database). Cookies are Secure when public_url
    # is https.
    session_max_age_seconds: int = 7 * 24 * 3600
    ack_link_ttl_seconds: int = 24 * 3600

    # HTTP API limits: larger request bodies get 413; past the rate, a credential gets 429.
    max_body_bytes: int = 1_048_576
    rate_limit_per_second: float = 50.0  # per API token or integration key; 0 turns it off
    rate_limit_burst: int = 500
    # How long a process trusts a checked API token or integration key before asking the
    # database again (revoking one elsewhere takes effect within this time).
    credential_cache_seconds: float = 2.0

    # HTTPS for `pagerd serve` and `pagerd api` (PEM files); also --tls-cert and --tls-key.
    tls_cert: str | None = None
    tls_key: str | None = None

    smtp_url: SecretStr | None = None
    smtp_from: str = "pager@localhost"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    # The number voice calls come from (Twilio calls need a phone number, not a Messaging
    # Service); unset, twilio_from when it is one.
    twilio_voice_from: str | None = None
    # The Slack app: pages to `{"type": "slack", "channel": ...}` are posted with the bot
    # token; button presses are verified with the signing secret.
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    # Webhook and Slack targets on loopback, private, link-local or cloud metadata addresses
    # are refused (a page must not reach into the server's own network) unless this is set.
    allow_private_targets: bool = False

    # Delivery: transient failures are retried with exponential backoff and jitter until the
    # page has been queued for delivery_max_seconds; no count of attempts ends delivery.
    delivery_max_seconds: float = 3600.0
    delivery_backoff_base_seconds: float = 1.0
    delivery_backoff_max_seconds: float = 60.0
    worker_poll_seconds: float = 1.0
    # How long a worker may hold a claimed timer or notification before another takes it over
    # (only matters when a worker dies mid-work).
    worker_lease_seconds: float = 60.0
    # How many times faster than the wall clock Pager's time runs: only for demos and tests
    # of what takes minutes (a heartbeat's interval, say). 1 is real time.
    clock_speed: float = Field(1.0, gt=0, le=10_000)

    @property
    def links_url(self) -> str:
        """The base of every link Pager sends or sets, without a trailing slash."""
        return (self.public_url or DEFAULT_PUBLIC_URL).rstrip("/")
