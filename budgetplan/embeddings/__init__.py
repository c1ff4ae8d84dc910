"""Image embeddings: the EmbeddingStore (vectors + FAISS index) and feature extraction."""

from budgetplan.embeddings.store import EmbeddingStore

__all__ = ["EmbeddingStore"]
