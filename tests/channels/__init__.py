"""Channel adapter tests: real-format payloads, signed as the providers sign them."""
