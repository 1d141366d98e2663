# legal-eagle-xtuner: InternLM-Chat-7B (v1) + LoRA on DISC-Law-SFT (Pair + Triplet).
#
# Reproduces the Legal-Eagle InternLM-7B fine-tune, which was trained with
# MedicalGPT's supervised_finetuning.py (HF Trainer); its settings are translated
# to XTuner terms below and each translation is commented. One mmengine "iter" is one micro-batch; an optimizer
# step happens every `accumulative_counts` iters.
#
#   xtuner train configs/internlm_7b_disc.py
#   NPROC_PER_NODE=8 xtuner train configs/internlm_7b_disc.py --deepspeed deepspeed_zero2
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
from mmengine.optim import LinearLR
from mmengine.visualization import LocalVisBackend, TensorboardVisBackend, Visualizer
from peft import LoraConfig
from torch.optim import AdamW
from transformers import AutoModelForCausalLM, AutoTokenizer

from legal_eagle_xtuner import LEGAL_SYSTEM, SupervisedFinetune, legal_qa_map_fn_factory
from legal_eagle_xtuner.train.dataset import legal_sft_dataset
from legal_eagle_xtuner.train.isolation import IsolatedAttentionHook, isolated_collate_fn
from legal_eagle_xtuner.train.precision import AutoAmpOptimWrapper
from legal_eagle_xtuner.train.resume import ExactResumeHook
from legal_eagle_xtuner.train.validation import ValLoss, ValLossLoop
from xtuner.dataset import ConcatDataset
from xtuner.dataset.collate_fns import default_collate_fn
from xtuner.dataset.map_fns import template_map_fn_factory
from xtuner.engine.hooks import (
    DatasetInfoHook,
    EvaluateChatHook,
    ThroughputHook,
    VarlenAttnArgsToMessageHubHook,
)
from xtuner.engine.runner import TrainLoop
from xtuner.utils import PROMPT_TEMPLATE

#######################################################################
#                          PART 1  Settings                           #
#######################################################################
# Model: a hub id, or a local / ModelScope download directory.
pretrained_model_name_or_path = "internlm/internlm-chat-7b"
use_varlen_attn = False  # XTuner's varlen path: flash-attn and per-device batch 1

# Data: download DISC-Law-SFT from the `ShengbinYue/DISC-Law-SFT` dataset on the
# Hugging Face hub into ./data (see README, "Get the data").
disc_pair_path = "./data/DISC-Law-SFT-Pair.jsonl"
disc_triplet_path = "./data/DISC-Law-SFT-Triplet-released.jsonl"
# Or the train.jsonl that `legal-eagle data` prepared from them (converted,
# deduplicated, decontaminated, split; README, "Prepare your data"). When set,
# it is trained on instead of the two raw files.
prepared_train_path = None
# ... and the eval.jsonl of the same split, validated on whole (nothing more
# is held out of prepared_train_path then).
prepared_eval_path = None
# Where the triplets' law references go: "prompt" (as context in the user turn,
# under 参考法条：) or "none" (dropped, as XTuner's own lawyer recipe does).
reference_placement = "prompt"
prompt_template = PROMPT_TEMPLATE.internlm_chat
max_length = 2048  # seed: model_max_length 2048
pack_to_max_length = True
# Packing (ours; XTuner cuts a token stream every max_length tokens, splitting
# samples): "best_fit" packs whole samples, best-fit decreasing; "xtuner" is
# XTuner's packer. Samples longer than max_length are "truncate"d or "drop"ped,
# and counted in the log.
packer = "best_fit"
overlong = "truncate"
# Isolated packing (ours): the samples of a pack attend only to themselves and their
# rotary positions restart at 0, so each trains exactly as if it were alone in its
# row, on any GPU or CPU and at any per-device batch. False lets a packed sample
# attend to the samples before it in its row and continue their positions -- what
# XTuner and the seed do without flash-attn -- so its loss depends on its
# neighbours; keep it only to reproduce runs made before 0.2.
isolate_packed_samples = True
# Its attention kernel: "auto" (torch's own varlen flash attention on torch >= 2.10
# and an sm80+ GPU, else flash-attn's varlen kernel where flash-attn is installed,
# else torch's scaled_dot_product_attention with a block-diagonal mask),
# "torch_varlen", "flash_varlen", "sdpa" or "flex" (FlexAttention, CUDA only). The
# log says which.
attention_path = "auto"
# The training loss (ours): "chunked" runs the output head and the cross-entropy over
# 512 labelled tokens at a time and never holds the logits of the whole micro-batch
# (0.85 GB per fp32 copy at 1 x 2048 tokens x 103,168 words); "full" is XTuner's own,
# the same value over full logits.
loss_impl = "chunked"
# Activation checkpointing (the seed's and XTuner's default): True keeps one hidden
# state per layer and recomputes the rest in the backward pass; False keeps every
# activation -- faster, where the GPU's memory allows (`legal-eagle doctor`).
use_activation_checkpointing = True

# Scheduler & Optimizer
batch_size = 1  # per_device; seed: per_device_train_batch_size 1
accumulative_counts = 32  # seed: gradient_accumulation_steps 32
dataloader_num_workers = 0
max_epochs = 2  # seed: num_train_epochs 2
optim_type = AdamW
lr = 2e-5  # seed: learning_rate 2e-5
betas = (0.9, 0.999)  # HF Trainer's AdamW defaults
weight_decay = 0.05  # seed: weight_decay 0.05
max_norm = 1  # grad clip; HF Trainer default max_grad_norm 1.0
warmup_ratio = 0.05  # seed: warmup_ratio 0.05, then HF's default linear decay

# Save
save_steps = 4000
save_total_limit = 3  # Maximum checkpoints to keep (-1 means unlimited)

# Evaluate the generation performance during the training (every ~8M tokens)
evaluation_freq = 4000
SYSTEM = LEGAL_SYSTEM
evaluation_inputs = [
    "请问离婚需要准备什么材料？",
    "公司拖欠工资三个月，我可以申请劳动仲裁吗？需要哪些证据？",
    "朋友借了我五万元一直不还，只有微信聊天记录，能起诉吗？",
]

# Validation (ours; XTuner's configs have none). `val_size` records of each data
# file are held out of training, stratified by source / DISC task and chosen by
# question hash -- the records `legal-eagle data split --eval-size N --seed 42`
# would pick -- and their mean loss per token is logged as val_loss every
# `val_interval` iterations (with the sample answers above) and after the last.
# Each validation is one forward pass over them (batch 1, unpacked).
# val_size = 0 turns validation off.
val_size = 300
val_interval = evaluation_freq

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
    use_varlen_attn=use_varlen_attn,
    # seed: --gradient_checkpointing True (XTuner's default too)
    use_activation_checkpointing=use_activation_checkpointing,
    loss_impl=loss_impl,
    llm=dict(
        type=AutoModelForCausalLM.from_pretrained,
        pretrained_model_name_or_path=pretrained_model_name_or_path,
        trust_remote_code=True,
        torch_dtype=torch.float16,  # seed: fp16
    ),
    # seed: --target_modules all --lora_rank 8 --lora_alpha 16
    # --lora_dropout 0.05; "all" is every linear layer but the output head.
    lora=dict(
        type=LoraConfig,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"],
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
legal_map_fn = dict(type=legal_qa_map_fn_factory,
                    reference_placement=reference_placement, system=SYSTEM)

# Triplets come first so that DatasetInfoHook's printed sample shows the
# reference context.
disc_triplet = dict(
    type=legal_sft_dataset,
    dataset=dict(type=load_dataset, path="json", data_files=dict(train=disc_triplet_path)),
    tokenizer=tokenizer,
    max_length=max_length,
    dataset_map_fn=legal_map_fn,
    holdout=val_size,
    template_map_fn=dict(type=template_map_fn_factory, template=prompt_template),
    remove_unused_columns=True,
    shuffle_before_pack=True,
    pack_to_max_length=pack_to_max_length,
    packer=packer,
    overlong=overlong,
    use_varlen_attn=use_varlen_attn,
    isolate_samples=isolate_packed_samples,
)

disc_pair = dict(
    type=legal_sft_dataset,
    dataset=dict(type=load_dataset, path="json", data_files=dict(train=disc_pair_path)),
    tokenizer=tokenizer,
    max_length=max_length,
    dataset_map_fn=legal_map_fn,
    holdout=val_size,
    template_map_fn=dict(type=template_map_fn_factory, template=prompt_template),
    remove_unused_columns=True,
    shuffle_before_pack=True,
    pack_to_max_length=pack_to_max_length,
    packer=packer,
    overlong=overlong,
    use_varlen_attn=use_varlen_attn,
    isolate_samples=isolate_packed_samples,
)

if prepared_train_path:
    # Already in XTuner's conversation format: no map function (references were
    # placed by `legal-eagle data convert --reference-placement`).
    train_dataset = dict(
        type=legal_sft_dataset,
        dataset=dict(type=load_dataset, path="json", data_files=dict(train=prepared_train_path)),
        tokenizer=tokenizer,
        max_length=max_length,
        dataset_map_fn=None,
        holdout=None if prepared_eval_path else val_size,
        template_map_fn=dict(type=template_map_fn_factory, template=prompt_template),
        remove_unused_columns=True,
        shuffle_before_pack=True,
        pack_to_max_length=pack_to_max_length,
        packer=packer,
        overlong=overlong,
        use_varlen_attn=use_varlen_attn,
        isolate_samples=isolate_packed_samples,
    )
    # The held-out records (or prepared_eval_path), unpacked: padding, not
    # packing, unless varlen attention keeps packed samples apart.
    val_dataset = {**train_dataset, "holdout_part": "eval",
                   "pack_to_max_length": use_varlen_attn}
    if prepared_eval_path:
        val_dataset["dataset"] = dict(
            type=load_dataset, path="json", data_files=dict(train=prepared_eval_path))
else:
    train_dataset = dict(type=ConcatDataset, datasets=[disc_triplet, disc_pair])
    val_dataset = dict(
        type=ConcatDataset,
        datasets=[
            {**disc_triplet, "holdout_part": "eval", "pack_to_max_length": use_varlen_attn},
            {**disc_pair, "holdout_part": "eval", "pack_to_max_length": use_varlen_attn},
        ],
    )

# Each packed sample gets its own positions (isolated packing), or XTuner's collation.
if isolate_packed_samples and not use_varlen_attn:
    collate_fn = dict(type=isolated_collate_fn)
else:
    collate_fn = dict(type=default_collate_fn, use_varlen_attn=use_varlen_attn)

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=dataloader_num_workers,
    dataset=train_dataset,
    sampler=dict(type=DefaultSampler, shuffle=True),
    collate_fn=collate_fn,
)

if val_size or prepared_eval_path:
    val_dataloader = dict(
        batch_size=1,
        num_workers=dataloader_num_workers,
        dataset=val_dataset,
        sampler=dict(type=DefaultSampler, shuffle=False),
        collate_fn=collate_fn,
    )
    # Mean loss per target token over the whole split, gathered from all ranks.
    val_evaluator = dict(type=ValLoss)
    val_cfg = dict(type=ValLossLoop)
else:
    val_dataloader = val_evaluator = val_cfg = None

#######################################################################
#                    PART 4  Scheduler & Optimizer                    #
#######################################################################
# optimizer
optim_wrapper = dict(
    type=AutoAmpOptimWrapper,
    optimizer=dict(type=optim_type, lr=lr, betas=betas, weight_decay=weight_decay),
    clip_grad=dict(max_norm=max_norm, error_if_nonfinite=False),
    accumulative_counts=accumulative_counts,
    loss_scale="dynamic",
    # bf16 on GPUs that have it, else fp16 (the seed's): the rule of XTuner's
    # deepspeed_zero2/3 "auto", so --deepspeed trains in the same precision
    dtype="auto",
)

# learning policy: HF's "linear" schedule -- linear warmup from 0 over the first
# 5% of training, then linear decay to 0. mmengine needs a start factor > 0.
param_scheduler = [
    dict(
        type=LinearLR,
        start_factor=1e-5,
        by_epoch=True,
        begin=0,
        end=warmup_ratio * max_epochs,
        convert_to_iter_based=True,
    ),
    dict(
        type=LinearLR,
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=warmup_ratio * max_epochs,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]

# train, val, test setting
train_cfg = dict(type=TrainLoop, max_epochs=max_epochs, val_interval=val_interval)

#######################################################################
#                           PART 5  Runtime                           #
#######################################################################
# Log the dialogue periodically during the training process
custom_hooks = [
    dict(type=DatasetInfoHook, tokenizer=tokenizer),
    # a resumed run continues exactly: random state, missed validation (ours)
    dict(type=ExactResumeHook),
    # tokens/s and TFLOPs per GPU into the log and TensorBoard
    dict(type=ThroughputHook),
    dict(
        type=EvaluateChatHook,
        tokenizer=tokenizer,
        every_n_iters=evaluation_freq,
        evaluation_inputs=evaluation_inputs,
        system=SYSTEM,
        prompt_template=prompt_template,
    ),
]

if use_varlen_attn:
    custom_hooks += [dict(type=VarlenAttnArgsToMessageHubHook)]
elif isolate_packed_samples:
    # the attention layers keep packed samples apart; the log names the kernel
    custom_hooks += [dict(type=IsolatedAttentionHook, path=attention_path)]

# configure default hooks
default_hooks = dict(
    # record the time of every iteration.
    timer=dict(type=IterTimerHook),
    # print log every 10 iterations.
    logger=dict(type=LoggerHook, log_metric_by_epoch=False, interval=10),
    # enable the parameter scheduler.
    param_scheduler=dict(type=ParamSchedulerHook),
    # save checkpoint per `save_steps`.
    checkpoint=dict(
        type=CheckpointHook,
        by_epoch=False,
        interval=save_steps,
        max_keep_ckpts=save_total_limit,
    ),
    # set sampler seed in distributed evrionment.
    sampler_seed=dict(type=DistSamplerSeedHook),
)

# configure environment
env_cfg = dict(
    # whether to enable cudnn benchmark
    cudnn_benchmark=False,
    # set multi process parameters
    mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
    # set distributed parameters
    dist_cfg=dict(backend="nccl"),
)

# Scalars (loss, lr, grad norm, ...) go to TensorBoard under
# work_dir/<timestamp>/vis_data as well as to the text and JSON logs.
# XTuner's configs set no visualizer.
visualizer = dict(
    type=Visualizer,
    vis_backends=[dict(type=LocalVisBackend), dict(type=TensorboardVisBackend)],
)

# set log level
log_level = "INFO"

# load from which checkpoint
load_from = None

# whether to resume training from the loaded checkpoint
resume = False

# A fixed seed, so that two runs of a recipe are comparable (XTuner: random).
randomness = dict(seed=42, deterministic=False)

# set log processor
log_processor = dict(by_epoch=False)
