"""The LlamaIndex layer: ingest the expert's documents, retrieve passages for generation.

    report = ingest(store, ["docs/"])
    passages = get_retriever(store, mode="hybrid").retrieve("apple stock", k=5)
"""
from .index import MODES, RetrievalError, Retriever, get_retriever
from .ingest import FileResult, IngestReport, ingest
from .readers import SUPPORTED, ReadError
from .vectordb import DenseIndex, VectorDBSettings

__all__ = ["MODES", "DenseIndex", "FileResult", "IngestReport", "ReadError", "RetrievalError", "Retriever", "SUPPORTED",
           "VectorDBSettings", "get_retriever", "ingest"]
