"""What an operator sees of a running gateway: the access log with request ids, warnings for
rejected webhook signatures, and the gauges `/metrics` reads from the database."""
