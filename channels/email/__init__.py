"""Email: SendGrid Inbound Parse (`POST /email/inbound`) and Postmark
(`POST /email/inbound/postmark`) in, out through the provider the workspace chose (SendGrid,
Postmark, Resend, Brevo or SMTP), threaded into assists."""
