"""Sacred experiments, one per stage (collect, pretrain, finetune, evaluate), and their named configs.

This is the only package that imports Sacred; the ``diswm`` library takes plain config objects.
"""
