"""Robustness: webhooks fuzzed, the admin API against its OpenAPI document, secrets never
logged, tenancy, and customer text that tries to instruct the operator."""
