"""The ``llm`` agent: any OpenAI-compatible endpoint through the real ``openai`` client; never raises into the loop.

Each proposal: up to ``1 + retries`` calls, with exponential backoff between them; an API error, a timeout or an
unusable reply (see prompt.py) counts as a failed call. When all fail, the ``fallback`` agent (``mutate``) proposes for
that round. ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are read by :meth:`LLMAgent.from_env`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

from coordinator.agents.base import Agent
from coordinator.agents.prompt import build_messages, parse_reply
from coordinator.errors import AgentError
from coordinator.records import Proposal, ProposalContext

__all__ = ["LLMAgent"]

log = logging.getLogger(__name__)


class LLMAgent:
    """Asks a chat model for a whole new train.py; falls back to ``fallback`` after bounded retries."""

    name = "llm"
    uses_trials = True  # the loop hands over trials: the prompt says what the study of this train.py learned

    def __init__(self, client_factory: Callable[[], Any], model: str, fallback: Agent | None = None, *,
                 retries: int = 2, backoff: float = 1.0, max_tokens: int = 16_000, temperature: float = 0.7,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client_factory = client_factory
        self.model = model
        self.fallback = fallback
        self.retries = retries
        self.backoff = backoff
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.sleep = sleep
        self.last_error: str = ""
        self._client: Any = None

    @classmethod
    def from_env(cls, model: str, fallback: Agent | None = None, *, timeout: float = 120.0,
                 env: dict[str, str] | None = None, **kwargs: Any) -> LLMAgent:
        """An agent whose client reads ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` (a dummy key for local servers)."""
        source = os.environ if env is None else env

        def factory() -> Any:
            from openai import OpenAI

            return OpenAI(base_url=source.get("OPENAI_BASE_URL") or None,
                          api_key=source.get("OPENAI_API_KEY") or "not-needed", timeout=timeout, max_retries=0)

        return cls(factory, model, fallback, **kwargs)

    def _ask(self, context: ProposalContext) -> Proposal:
        if self._client is None:
            self._client = self.client_factory()
        response = self._client.chat.completions.create(
            model=self.model, messages=build_messages(context), max_tokens=self.max_tokens,
            temperature=self.temperature)
        content = response.choices[0].message.content if response.choices else None
        text, description = parse_reply(content, context.train_py)
        return Proposal(train_py=text, description=description, agent=self.name)

    def propose(self, context: ProposalContext) -> Proposal:
        for attempt in range(self.retries + 1):
            try:
                return self._ask(context)
            except Exception as exc:  # API errors, timeouts, unusable replies: all survivable
                self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.warning("llm attempt %d/%d failed: %s", attempt + 1, self.retries + 1, self.last_error)
            if attempt < self.retries:
                self.sleep(self.backoff * 2 ** attempt)
        if self.fallback is None:
            raise AgentError(f"llm gave nothing usable: {self.last_error}")
        log.warning("llm fell back to %s for this round", self.fallback.name)
        proposal = self.fallback.propose(context)
        return Proposal(train_py=proposal.train_py, description=proposal.description,
                        agent=f"{proposal.agent} (llm fallback)")
