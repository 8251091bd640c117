"""Analysis of stored landscapes: per-minimum metrics (AUC, loss, accuracy), summaries, figures."""
