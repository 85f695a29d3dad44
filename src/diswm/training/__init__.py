"""The loops that train the method (:mod:`diswm.agents`): finetuning online (``finetune``), pretraining on
videos (``pretrain``), the models with their optimisers (``learners``, ``optim``) and one update replayed as a
CUDA graph (``graphed``)."""
