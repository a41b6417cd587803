"""Pager: on-call alert escalation."""

__version__ = "0.1.0"
