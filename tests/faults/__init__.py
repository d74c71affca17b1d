"""Fault tests: crashes, provider outages, several nodes."""
