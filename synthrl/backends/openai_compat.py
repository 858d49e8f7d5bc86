"""Any OpenAI-compatible chat server: OpenAI, vLLM, llama.cpp, Ollama, ...

Requests for a batch run concurrently (at most `max_concurrency` in flight per
model, shared by all callers). 429, 5xx and timeouts are retried with
exponential backoff and jitter (Retry-After is honoured); a wrong URL, a
rejected key or an unknown model fail at once with a message saying which.

With `json_schema` the request carries `response_format` (type json_schema);
a server that rejects it is asked again without it, once, and from then on
plain prompting is used (reported through `on_event`).

    teacher = get_backend("openai", model="Qwen/Qwen2.5-7B-Instruct", base_url="http://localhost:8000/v1")
    teacher.chat(convs, GenerationParams(n=4, temperature=0.7))
"""
from __future__ import annotations

import email.utils
import ipaddress
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from urllib.parse import urlparse

from ..records import Completion
from .base import BackendError, ChatModel, Conversation, GenerationParams, register
from .structured import response_format

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_RETRY_STATUS = {408, 409, 425, 429}
_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}")


def strip_credentials(url: str) -> str:
    """The URL without a user:password@ part (and with anything that looks like a key masked)."""
    u = urlparse(url)
    if u.username is not None or u.password is not None:
        host = u.netloc.rsplit("@", 1)[1]
        url = u._replace(netloc=host).geturl()
    return _KEY_PATTERN.sub("***", url)


def credentials_problem(url: str) -> str | None:
    """Why `url` must not be stored (it carries a key), or None. The message never repeats the key."""
    u = urlparse(url)
    if u.username is not None or u.password is not None or _KEY_PATTERN.search(u.query):
        return (f"base_url must not contain credentials (got {strip_credentials(url)!r} with a user, password or "
                "key in it): put the key in an environment variable and give that variable's NAME as "
                "api_key_env (e.g. OPENAI_API_KEY); the URL is stored with the run, the key must not be")
    return None


def normalize_base_url(url: str | None) -> str:
    """'http://host:8000' -> 'http://host:8000/v1'; drops a trailing '/chat/completions' or '/'.

    A URL with credentials in it (https://user:sk-...@host) is refused: keys come from api_key_env.
    """
    url = (url or OPENAI_URL).strip().rstrip("/")
    problem = credentials_problem(url)
    if problem:
        raise BackendError(problem)
    for tail in ("/chat/completions", "/completions"):
        if url.endswith(tail):
            url = url[: -len(tail)]
    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise BackendError(f"base_url must look like http://host:port/v1, got {url!r}")
    if u.path in ("", "/"):
        url = url + "/v1"
    return url


def is_local_host(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host in ("localhost", "host.docker.internal") or host.endswith(".local"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified


class _Rejected(Exception):
    """A 4xx that retrying will not fix."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _error_message(r) -> str:
    try:
        body = r.json()
    except ValueError:
        return (r.text or "").strip()[:300]
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err
        if err is not None:
            return str(err)[:300]
    return str(body)[:300]


def _content_text(content) -> str:
    """A message's content as text: a string, null (-> ""), or a list of parts joined.

    OpenAI-style servers may send content as [{"type": "text", "text": "..."}, ...]; the text
    parts are joined in order, other parts (images, audio) are skipped.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, dict) and isinstance(part.get("text"), dict) \
                    and isinstance(part["text"].get("value"), str):
                texts.append(part["text"]["value"])  # {"type": "text", "text": {"value": ...}} (Assistants style)
        return "".join(texts)
    raise TypeError(f"message content must be a string or a list of parts, got {type(content).__name__}")


def _retry_after(r) -> float | None:
    value = r.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@register("openai")
class OpenAIChatModel(ChatModel):
    """A model behind an OpenAI-compatible /v1/chat/completions endpoint.

    The key is read from the environment variable `api_key_env` (default
    OPENAI_API_KEY, sent only to non-local servers unless api_key_env is given).
    """

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str | None = None,
                 max_concurrency: int = 8, timeout: float = 60.0, max_retries: int = 4, on_event=None,
                 backoff_base: float = 0.5, backoff_max: float = 30.0):
        import httpx

        if not model:
            raise BackendError("the openai backend needs a model name (what the server calls it)")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self._httpx = httpx
        self.model = model
        self.base_url = normalize_base_url(base_url)
        self.chat_url = self.base_url + "/chat/completions"
        self.local = is_local_host(self.base_url)
        self.key_env = api_key_env or DEFAULT_KEY_ENV
        key = os.environ.get(self.key_env) if (api_key_env or not self.local) else None
        self._key = key or None
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.on_event = on_event
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.version = f"{model}@{urlparse(self.base_url).netloc}"
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._client = httpx.Client(
            headers=headers, trust_env=not self.local,
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            limits=httpx.Limits(max_connections=max_concurrency + 2, max_keepalive_connections=max_concurrency))
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="synthrl-openai")
        self._state_lock = threading.Lock()
        self._reached = False           # did the server ever answer? (then connection errors are retried)
        self.json_schema_supported = True
        self.server_honours_n: bool | None = None
        self._token_param = "max_tokens"

    def __repr__(self):  # never shows the key
        return f"OpenAIChatModel(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.key_env!r})"

    def describe(self) -> str:
        return f"openai:{self.model} at {self.base_url}"

    # ------------------------------------------------------------------ public

    def chat(self, conversations: list[Conversation], params: GenerationParams) -> list[list[Completion]]:
        if not conversations:
            return []
        split = params.n > 1 and self.server_honours_n is False
        jobs = []
        for conv in conversations:
            if split:
                jobs.append([self._pool.submit(self._complete, conv, params, 1, i) for i in range(params.n)])
            else:
                jobs.append([self._pool.submit(self._complete, conv, params, params.n, 0)])
        try:
            return [[c for f in fs for c in f.result()] for fs in jobs]
        except BaseException:
            for fs in jobs:
                for f in fs:
                    f.cancel()
            raise

    def list_models(self) -> list[str] | None:
        """Model ids the server offers (GET /models), or None when it cannot say."""
        try:
            r = self._client.get(self.base_url + "/models", timeout=min(10.0, self.timeout))
            if r.status_code != 200:
                return None
            return [str(m.get("id")) for m in r.json().get("data", []) if isinstance(m, dict)]
        except (self._httpx.HTTPError, ValueError, AttributeError):
            return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    # ------------------------------------------------------------------ one request

    def _complete(self, conv: Conversation, params: GenerationParams, n: int, offset: int) -> list[Completion]:
        payload = {"model": self.model, "messages": conv, "temperature": params.temperature,
                   "top_p": params.top_p, self._token_param: params.max_tokens}
        if n > 1:
            payload["n"] = n
        if params.seed is not None:
            payload["seed"] = params.seed + offset
        if params.json_schema is not None and self.json_schema_supported:
            payload["response_format"] = response_format(params.json_schema)
        if params.stop is not None and params.stop.strings:
            # stop where the answer is complete (the closing tag); servers leave the stop string out
            payload["stop"] = list(params.stop.strings)
        data = self._send(payload)
        comps = self._parse(data)
        if params.stop is not None and params.stop.strings:
            reasons = [c.get("stop_reason") for c in sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))]
            comps = [c if r not in params.stop.strings else replace(c, text=params.stop.restore(c.text))
                     for c, r in zip(comps, reasons)]
        if n > 1:
            if len(comps) >= n:
                self.server_honours_n = True
            else:
                # The server ignored `n`: ask for the rest one by one (and do so from now on).
                self.server_honours_n = False
                for i in range(len(comps), n):
                    comps.extend(self._complete(conv, params, 1, offset + i))
        return comps[:n]

    def _parse(self, data) -> list[Completion]:
        """The completions of one reply; anything that is not a usable chat completion -> BackendError."""
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0) // max(1, len(choices))
            comps = [Completion(text=_content_text((c.get("message") or {}).get("content")),
                                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                finish_reason=c.get("finish_reason")) for c in choices]
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise BackendError(f"the server at {self.base_url} answered with something that is not an "
                               f"OpenAI chat completion ({type(e).__name__}: {e})") from None
        if not comps:
            raise BackendError(f"the server at {self.base_url} answered with no choices (\"choices\": []); "
                               "no completion to use")
        return comps

    def _send(self, payload: dict) -> dict:
        try:
            return self._request(payload)
        except _Rejected as e:
            if e.status == 400 and "max_completion_tokens" in e.message and "max_tokens" in payload:
                # Newer OpenAI models want max_completion_tokens instead.
                self._token_param = "max_completion_tokens"
                payload = dict(payload)
                payload["max_completion_tokens"] = payload.pop("max_tokens")
                return self._send(payload)
            if "response_format" in payload and e.status not in (401, 403, 404, 429):
                self._disable_json_schema(e)
                return self._send({k: v for k, v in payload.items() if k != "response_format"})
            raise self._user_error(e) from None

    def _disable_json_schema(self, e: _Rejected) -> None:
        with self._state_lock:
            first = self.json_schema_supported
            self.json_schema_supported = False
        if first and self.on_event:
            self.on_event("warning", f"the teacher server at {self.base_url} does not support json_schema "
                                     f"response_format ({self._redact(str(e))}); falling back to plain prompting")

    def _request(self, payload: dict) -> dict:
        httpx = self._httpx
        attempt = 0
        while True:
            wait = None
            try:
                r = self._client.post(self.chat_url, json=payload)
            except httpx.TimeoutException:
                cause = f"no answer within {self.timeout:g} s (timeout)"
            except httpx.ConnectError as e:
                if not self._reached:
                    raise BackendError(f"cannot reach teacher at {self.base_url}: {e}. Is the server running, "
                                       "and is base_url right?") from None
                cause = f"connection failed: {e}"
            except httpx.TransportError as e:
                cause = f"{type(e).__name__}: {e}"
            else:
                self._reached = True
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        raise BackendError(f"the server at {self.base_url} answered HTTP 200 with non-JSON: "
                                           f"{r.text[:200]!r}") from None
                message = self._redact(_error_message(r))
                if r.status_code >= 500 or r.status_code in _RETRY_STATUS:
                    cause = f"HTTP {r.status_code}: {message}"
                    wait = _retry_after(r)
                else:
                    raise _Rejected(r.status_code, message)
            if attempt >= self.max_retries:
                raise BackendError(f"teacher request to {self.chat_url} failed after {attempt + 1} attempt(s): "
                                   f"{cause}")
            if wait is None:
                wait = min(self.backoff_max, self.backoff_base * 2 ** attempt) * random.uniform(0.5, 1.0)
            else:
                wait = min(wait, 120.0) + random.uniform(0, 0.1 * self.backoff_base)
            time.sleep(wait)
            attempt += 1

    # ------------------------------------------------------------------ messages

    def _redact(self, text: str) -> str:
        if self._key:
            text = text.replace(self._key, "***")
        return _KEY_PATTERN.sub("***", text)

    def _user_error(self, e: _Rejected) -> BackendError:
        if e.status in (401, 403):
            unset = "" if self._key else " is not set"
            return BackendError(f"the server at {self.base_url} rejected the API key (env {self.key_env}{unset}): "
                                f"HTTP {e.status}: {e.message}")
        if e.status == 404:
            available = self.list_models()
            if available is not None and self.model not in available:
                shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
                return BackendError(f"model '{self.model}' not found at {self.base_url}; available: {shown or 'none'}")
            if "model" in e.message.lower():
                return BackendError(f"model '{self.model}' not found at {self.base_url} ({e.message})")
            return BackendError(f"nothing answers at {self.chat_url} (HTTP 404); is base_url right? "
                                "OpenAI-compatible servers usually end in /v1")
        return BackendError(f"the server at {self.base_url} refused the request (HTTP {e.status}): {e.message}")
