# legal-eagle-xtuner demo: the internlm2_7b_disc recipe shrunk to a tiny random
# InternLM2 and the packaged sample records, so that the whole train -> convert ->
# chat path runs on a CPU in a minute or two. `legal-eagle demo` fills in the
# model and data paths below (see legal_eagle_xtuner/smoke.py) and runs it.
import torch
from datasets import load_dataset
from mmengine.dataset import DefaultSampler
from mmengine.hooks import (
    CheckpointHook,
    DistSamplerSeedHook,
    IterTimerHook,
    LoggerHook,
    ParamSchedulerHook,
)
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper
from mmengine.visualization import LocalVisBackend, TensorboardVisBackend, Visualizer
from peft import LoraConfig
from torch.optim import AdamW
from transformers import AutoModelForCausalLM, AutoTokenizer

from legal_eagle_xtuner import LEGAL_SYSTEM, SupervisedFinetune, legal_qa_map_fn
from legal_eagle_xtuner.train.dataset import legal_sft_dataset
from legal_eagle_xtuner.train.isolation import IsolatedAttentionHook, isolated_collate_fn
from legal_eagle_xtuner.train.resume import ExactResumeHook
from legal_eagle_xtuner.train.validation import ValLoss, ValLossLoop
from xtuner.dataset import ConcatDataset
from xtuner.dataset.collate_fns import default_collate_fn
from xtuner.dataset.map_fns import template_map_fn_factory
from xtuner.engine.hooks import DatasetInfoHook, EvaluateChatHook, ThroughputHook
from xtuner.engine.runner import TrainLoop
from xtuner.utils import PROMPT_TEMPLATE

#######################################################################
#                          PART 1  Settings                           #
#######################################################################
# Model: filled in by `legal-eagle demo` with the cached tiny InternLM2.
pretrained_model_name_or_path = "TINY_INTERNLM2_DIR"

# Data: the packaged samples, one file per source format.
disc_pair_path = "disc_pair.jsonl"
disc_triplet_path = "disc_triplet.jsonl"
lawgpt_52k_path = "lawgpt_52k.json"
lawgpt_92k_path = "lawgpt_92k.json"
prompt_template = PROMPT_TEMPLATE.internlm2_chat
max_length = 512  # the real recipes use 2048; the samples are short
pack_to_max_length = True
# packed samples attend only to themselves (as in the three recipes)
isolate_packed_samples = True

# Scheduler & Optimizer
batch_size = 1  # per_device
accumulative_counts = 1
dataloader_num_workers = 0
max_epochs = 6
optim_type = AdamW
lr = 3e-3  # a random tiny model needs a large step to learn visibly in seconds
betas = (0.9, 0.999)
weight_decay = 0
max_norm = 1  # grad clip
warmup_ratio = 0.15

# Save
save_steps = 1000
save_total_limit = 1

# Evaluate the generation performance during the training
evaluation_freq = 1000
SYSTEM = LEGAL_SYSTEM
evaluation_inputs = ["请问离婚需要准备什么材料？"]

# Validation: 2 records of each file held out; val_loss every 20 iterations
# and at the end (the real recipes: 300 records, every evaluation_freq).
val_size = 2
val_interval = 20

#######################################################################
#                      PART 2  Model & Tokenizer                      #
#######################################################################
tokenizer = dict(
    type=AutoTokenizer.from_pretrained,
    pretrained_model_name_or_path=pretrained_model_name_or_path,
    trust_remote_code=True,
    padding_side="right",
)

model = dict(
    type=SupervisedFinetune,
    llm=dict(
        type=AutoModelForCausalLM.from_pretrained,
        pretrained_model_name_or_path=pretrained_model_name_or_path,
        trust_remote_code=True,
        torch_dtype=torch.float32,
    ),
    lora=dict(
        type=LoraConfig,
        target_modules=["wqkv", "wo", "w1", "w2", "w3"],  # every linear layer but the head
        r=8,
        lora_alpha=16,
        lora_dropout=0.05,
        bias="none",
        task_type="CAUSAL_LM",
    ),
)

#######################################################################
#                      PART 3  Dataset & Dataloader                   #
#######################################################################
disc_pair = dict(
    type=legal_sft_dataset,
    dataset=dict(type=load_dataset, path="json", data_files=dict(train=disc_pair_path)),
    tokenizer=tokenizer,
    max_length=max_length,
    dataset_map_fn=legal_qa_map_fn,
    holdout=val_size,
    template_map_fn=dict(type=template_map_fn_factory, template=prompt_template),
    remove_unused_columns=True,
    shuffle_before_pack=True,
    pack_to_max_length=pack_to_max_length,
    isolate_samples=isolate_packed_samples,
    map_num_proc=1,
)

disc_triplet = dict(
    type=legal_sft_dataset,
    dataset=dict(type=load_dataset, path="json", data_files=dict(train=disc_triplet_path)),
    tokenizer=tokenizer,
    max_length=max_length,
    dataset_map_fn=legal_qa_map_fn,
    holdout=val_size,
    template_map_fn=dict(type=template_map_fn_factory, template=prompt_template),
    remove_unused_columns=True,
    shuffle_before_pack=True,
    pack_to_max_length=pack_to_max_length,
    isolate_samples=isolate_packed_samples,
    map_num_proc=1,
)

lawgpt_52k = dict(
    type=legal_sft_dataset,
    dataset=dict(type=load_dataset, path="json", data_files=dict(train=lawgpt_52k_path)),
    tokenizer=tokenizer,
    max_length=max_length,
    dataset_map_fn=legal_qa_map_fn,
    holdout=val_size,
    template_map_fn=dict(type=template_map_fn_factory, template=prompt_template),
    remove_unused_columns=True,
    shuffle_before_pack=True,
    pack_to_max_length=pack_to_max_length,
    isolate_samples=isolate_packed_samples,
    map_num_proc=1,
)

lawgpt_92k = dict(
    type=legal_sft_dataset,
    dataset=dict(type=load_dataset, path="json", data_files=dict(train=lawgpt_92k_path)),
    tokenizer=tokenizer,
    max_length=max_length,
    dataset_map_fn=legal_qa_map_fn,
    holdout=val_size,
    template_map_fn=dict(type=template_map_fn_factory, template=prompt_template),
    remove_unused_columns=True,
    shuffle_before_pack=True,
    pack_to_max_length=pack_to_max_length,
    isolate_samples=isolate_packed_samples,
    map_num_proc=1,
)

train_dataset = dict(
    type=ConcatDataset, datasets=[disc_pair, disc_triplet, lawgpt_52k, lawgpt_92k]
)
val_dataset = dict(
    type=ConcatDataset,
    datasets=[{**d, "holdout_part": "eval", "pack_to_max_length": False}
              for d in (disc_pair, disc_triplet, lawgpt_52k, lawgpt_92k)],
)

collate_fn = dict(type=isolated_collate_fn if isolate_packed_samples else default_collate_fn)

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=dataloader_num_workers,
    dataset=train_dataset,
    sampler=dict(type=DefaultSampler, shuffle=True),
    collate_fn=collate_fn,
)

val_dataloader = dict(
    batch_size=1,
    num_workers=dataloader_num_workers,
    dataset=val_dataset,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=collate_fn,
)
val_evaluator = dict(type=ValLoss)
val_cfg = dict(type=ValLossLoop)

#######################################################################
#                    PART 4  Scheduler & Optimizer                    #
#######################################################################
# Plain fp32 OptimWrapper: AmpOptimWrapper needs a GPU.
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=optim_type, lr=lr, betas=betas, weight_decay=weight_decay),
    clip_grad=dict(max_norm=max_norm, error_if_nonfinite=False),
    accumulative_counts=accumulative_counts,
)

param_scheduler = [
    dict(
        type=LinearLR,
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=warmup_ratio * max_epochs,
        convert_to_iter_based=True,
    ),
    dict(
        type=CosineAnnealingLR,
        eta_min=lr * 0.1,
        by_epoch=True,
        begin=warmup_ratio * max_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]

train_cfg = dict(type=TrainLoop, max_epochs=max_epochs, val_interval=val_interval)

#######################################################################
#                           PART 5  Runtime                           #
#######################################################################
custom_hooks = [
    dict(type=DatasetInfoHook, tokenizer=tokenizer),
    # a resumed run continues exactly: random state, missed validation (ours)
    dict(type=ExactResumeHook),
    dict(type=ThroughputHook),
    dict(
        type=EvaluateChatHook,
        tokenizer=tokenizer,
        every_n_iters=evaluation_freq,
        evaluation_inputs=evaluation_inputs,
        system=SYSTEM,
        prompt_template=prompt_template,
        max_new_tokens=24,
    ),
]
if isolate_packed_samples:
    custom_hooks += [dict(type=IsolatedAttentionHook, path="auto")]

default_hooks = dict(
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, log_metric_by_epoch=False, interval=1),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(
        type=CheckpointHook,
        by_epoch=False,
        interval=save_steps,
        max_keep_ckpts=save_total_limit,
    ),
    sampler_seed=dict(type=DistSamplerSeedHook),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
    dist_cfg=dict(backend="gloo"),
)

# Scalars go to TensorBoard (work_dir/<timestamp>/vis_data) and to a JSON log.
visualizer = dict(
    type=Visualizer,
    vis_backends=[dict(type=LocalVisBackend), dict(type=TensorboardVisBackend)],
)

log_level = "INFO"
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
log_processor = dict(by_epoch=False)
