"""The confidence coach: knowledge base, retrieval, grounding in the candidate's data, chat."""
