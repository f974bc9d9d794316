"""Fine-tuning LIIF: training degradations (``degradations``) and the training loop (``train``)."""
