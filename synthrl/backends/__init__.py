"""Model backends: see base.py for the interface."""
from .base import (BackendError, BackendUnavailable, ChatModel, Conversation, GenerationParams,
                   available_backends, get_backend, register)

__all__ = ["BackendError", "BackendUnavailable", "ChatModel", "Conversation", "GenerationParams",
           "available_backends", "get_backend", "register"]
