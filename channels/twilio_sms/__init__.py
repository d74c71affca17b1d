"""SMS and WhatsApp through Twilio: `POST /twilio/sms` in, the REST API out (`NAME` "twilio").

Inbound messages become Tasks on the `sms` or `whatsapp` channel (a `whatsapp:` prefix on the
address says which); "YES 1234" / "NO 1234" decide proposals; STOP, START and HELP are
honoured; status callbacks (`POST /twilio/status`) follow each message to delivery.
"""
