"""Channel adapters: each verifies, parses inbound traffic into Tasks, renders and sends."""
