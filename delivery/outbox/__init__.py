"""The outbox: replies written with their task's commit, delivered by workers with retries."""
