"""Webhooks: events stored in an outbox, delivered at least once, signed as Standard Webhooks does."""
