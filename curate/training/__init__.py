"""Two-stage instruction fine-tuning on a curate build (Taiyi recipe) with Ray Train + DeepSpeed.

Modules: ``config`` (typed config, DeepSpeed dict), ``data`` (manifest shards to packed token sequences),
``model`` (model and tokenizer loading), ``loop`` (the training loop, with or without Ray),
``ray_train`` (Ray Train driver), ``stages`` (stage 1 then stage 2), ``generate`` (predictions for eval).
Nothing heavy is imported here, so ``curate --help`` stays instant.
"""
