"""Fakes of the outside world that speak the real protocols (fake_openai: the OpenAI chat API on loopback)."""
