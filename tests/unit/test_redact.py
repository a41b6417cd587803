"""What the read models show of a webhook's secret: that there is one, never what it is."""

from __future__ import annotations

from pager.application.queries import REDACTED, redact


def test_a_secret_is_hidden_at_any_depth_and_no_secret_stays_none() -> None:
    target = {"type": "webhook", "url": "https://hooks.example.com", "secret": "s3cret"}
    shown = redact({"levels": [{"targets": [target, {**target, "secret": None}]}]})
    assert shown == {
        "levels": [{"targets": [{**target, "secret": REDACTED}, {**target, "secret": None}]}]
    }
    assert target["secret"] == "s3cret"  # a copy: what is stored is not changed
