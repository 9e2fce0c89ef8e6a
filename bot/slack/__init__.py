"""The Slack side: rendering, delivery, the web app and the /eon listeners."""
