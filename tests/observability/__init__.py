"""Observability: logs, request ids, signature warnings, /metrics, the ops/ files."""
