"""`switchboard doctor`: the database, each configured provider's credentials, the webhook URLs.

It lives with the channels because it checks each provider through the SDK client the channel
itself uses, pointed at the same `*_API_URL`; the API layer never needs it, only the CLI.
"""

from channels.doctor.report import Finding, Report
from channels.doctor.run import diagnose

__all__ = ["Finding", "Report", "diagnose"]
