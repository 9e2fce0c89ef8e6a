"""The Edge Impulse side: the tuner state's models and the httpx client."""
