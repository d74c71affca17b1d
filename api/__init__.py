"""The HTTP server: composition root, health and metrics, the admin REST API."""
