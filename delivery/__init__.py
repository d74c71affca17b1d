"""Delivery: routes, deliverables, the outbox worker, senders and their errors."""
