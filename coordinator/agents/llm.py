"""The ``llm`` agent: any OpenAI-compatible endpoint through the real ``openai`` client; never raises into the loop.

The prompt and the strict parsing of the reply live in prompt.py; this module is only the transport.

- Transport errors (connection, timeout, 408/409/429/5xx) are retried by the openai client itself (``max_retries``,
  exponential backoff that honours the server's ``Retry-After``); when they still fail, the ``fallback`` agent
  (``mutate``) proposes for that round.
- An unusable reply (see prompt.py) is asked again up to ``retries`` times, with a backoff of the agent's own.
- A refusal that asking again cannot cure (401, 403: the key; 404: the model or the URL) stops asking that endpoint
  for the life of the agent: :attr:`LLMAgent.disabled` says what happened and the fix (the node shows it in the feed
  and ``status``), and every later round goes to the fallback without a request.

``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are read by :meth:`LLMAgent.from_env`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

from coordinator.agents.base import Agent
from coordinator.agents.prompt import build_messages, parse_reply
from coordinator.errors import AgentError, ReplyError
from coordinator.records import Proposal, ProposalContext

__all__ = ["LLMAgent", "refusal_fix"]

log = logging.getLogger(__name__)

_FIXES = {
    401: "the endpoint refused the API key: set OPENAI_API_KEY to a valid key and restart the node",
    403: "the API key is not allowed to use this model or endpoint: set OPENAI_API_KEY to a key that is "
         "(or pick another --model) and restart the node",
    404: "the endpoint does not know this model or path: check --model and OPENAI_BASE_URL (it usually ends "
         "in /v1) and restart the node",
}


def refusal_fix(status: int | None) -> str | None:
    """The fix for an HTTP refusal that retrying cannot cure (401, 403, 404), else None."""
    return _FIXES.get(status) if status is not None else None


class LLMAgent:
    """Asks a chat model for a whole new train.py; falls back to ``fallback`` (see the module docstring)."""

    name = "llm"
    uses_trials = True  # the loop hands over trials: the prompt says what the study of this train.py learned

    def __init__(self, client_factory: Callable[[], Any], model: str, fallback: Agent | None = None, *,
                 retries: int = 2, backoff: float = 1.0, max_tokens: int = 16_000, temperature: float = 0.7,
                 sleep: Callable[[float], None] = time.sleep, endpoint: str = "") -> None:
        self.client_factory = client_factory
        self.model = model
        self.fallback = fallback
        self.retries = retries
        self.backoff = backoff
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.sleep = sleep
        self.endpoint = endpoint
        self.last_error: str = ""
        self.disabled: str = ""  # set once the endpoint refused for good: what happened and the fix
        self._client: Any = None

    @classmethod
    def from_env(cls, model: str, fallback: Agent | None = None, *, timeout: float = 120.0, max_retries: int = 2,
                 env: dict[str, str] | None = None, **kwargs: Any) -> LLMAgent:
        """An agent whose client reads ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` (a dummy key for local servers).

        ``max_retries`` is the openai client's own retry count for transport errors (it honours Retry-After).
        """
        source = os.environ if env is None else env
        base_url = source.get("OPENAI_BASE_URL") or None

        def factory() -> Any:
            from openai import OpenAI

            return OpenAI(base_url=base_url, api_key=source.get("OPENAI_API_KEY") or "not-needed", timeout=timeout,
                          max_retries=max_retries)

        return cls(factory, model, fallback, endpoint=base_url or "https://api.openai.com/v1", **kwargs)

    def _ask(self, context: ProposalContext) -> Proposal:
        if self._client is None:
            self._client = self.client_factory()
        response = self._client.chat.completions.create(
            model=self.model, messages=build_messages(context), max_tokens=self.max_tokens,
            temperature=self.temperature)
        content = response.choices[0].message.content if response.choices else None
        text, description = parse_reply(content, context.train_py)
        return Proposal(train_py=text, description=description, agent=self.name)

    def _refused(self, exc: Exception) -> bool:
        """Whether ``exc`` is a refusal retrying cannot cure; if so, stop asking and say why once."""
        status = getattr(exc, "status_code", None)
        fix = refusal_fix(status if isinstance(status, int) else None)
        if fix is None:
            return False
        self.disabled = (f"llm agent stopped: {self.endpoint} answered {status} for model {self.model!r} "
                         f"({str(exc)[:160]}); {fix}. Until then the built-in agent "
                         f"({self.fallback.name if self.fallback else 'none'}) proposes.")
        log.error("%s", self.disabled)
        return True

    def _try(self, context: ProposalContext) -> Proposal | None:
        for attempt in range(self.retries + 1):
            try:
                return self._ask(context)
            except ReplyError as exc:  # an unusable reply: asking again may give a usable one
                self.last_error = f"unusable reply: {exc}"
            except Exception as exc:  # the client already retried transport errors; a refusal stops the agent
                self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                if not self._refused(exc):
                    log.warning("llm call failed after the client's retries: %s", self.last_error)
                return None
            log.warning("llm attempt %d/%d: %s", attempt + 1, self.retries + 1, self.last_error)
            if attempt < self.retries:
                self.sleep(self.backoff * 2 ** attempt)
        return None

    def propose(self, context: ProposalContext) -> Proposal:
        if not self.disabled:
            proposal = self._try(context)
            if proposal is not None:
                return proposal
        if self.fallback is None:
            raise AgentError(self.disabled or f"llm gave nothing usable: {self.last_error}")
        log.info("llm fell back to %s for this round", self.fallback.name)
        proposal = self.fallback.propose(context)
        return Proposal(train_py=proposal.train_py, description=proposal.description,
                        agent=f"{proposal.agent} (llm fallback)")
