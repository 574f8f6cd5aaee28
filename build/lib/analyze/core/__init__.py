"""What every analysis pipeline shares: head ids, one model resolver, held-out Brown prompts, hook helpers,
attention-pattern extraction, the embeddings a head reads, and figure / HTML primitives.

Nothing here imports a pipeline (``analyze.phrenology``, ``analyze.probes``, ``analyze.compare``).
"""
