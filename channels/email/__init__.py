"""Email: SendGrid Inbound Parse in (`POST /email/inbound`), out through the provider the
workspace chose (SendGrid, Postmark, Resend, Brevo or SMTP), threaded into assists."""
