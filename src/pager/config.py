"""Settings from the environment (prefix PAGER_), parsed once at start-up."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAGER_", extra="ignore")

    database_url: str = "sqlite:///./pager.db"
    public_url: str = "http://127.0.0.1:8080"
    secret_key: SecretStr | None = None

    smtp_url: SecretStr | None = None
    smtp_from: str = "pager@localhost"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_base_url: str = "https://api.twilio.com"

    # Delivery: transient failures are retried with exponential backoff and jitter.
    delivery_max_attempts: int = 8
    delivery_max_seconds: float = 600.0
    delivery_backoff_base_seconds: float = 1.0
    delivery_backoff_max_seconds: float = 60.0
    worker_poll_seconds: float = 1.0
