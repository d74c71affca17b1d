"""Telegram through python-telegram-bot: updates in by webhook (`/telegram/webhook`) or long
polling, replies out through the Bot API at `TELEGRAM_API_URL`."""
