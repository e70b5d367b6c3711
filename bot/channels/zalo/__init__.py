"""The Zalo Official Account channel (OA Open API v3): ``client.py`` calls the API and keeps the access token
fresh, ``inbound.py`` checks and maps webhook events to neutral events, ``outbound.py`` turns neutral replies into
Zalo messages, and ``channel.py`` runs them: the webhook route, the event worker and the outbox sender."""

CHANNEL = "zalo"
