"""The receive daemon: SMTP protocol (aiosmtpd) separate from mailops' policy."""
