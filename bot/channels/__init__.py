"""The channels through which people reach the bot: each turns its API's messages into neutral events and
the core's neutral replies into its API's calls (Telegram, Zalo OA, the console)."""
