"""One script per paper figure. Scripts read run records, datasets, result CSVs and checkpoints only."""
