from pathlib import Path

from setuptools import find_packages, setup

# The stack is pinned as a whole because its parts only work in this combination:
# xtuner 0.2.0 pins transformers 4.48.0, mmengine 0.10.6 and bitsandbytes 0.45.0;
# bitsandbytes 0.45.0 imports ``triton.ops``, which triton removed in 3.2 (the
# triton of torch >= 2.6), so with a newer torch PEFT's LoRA injection fails with
# "No module named 'triton.ops'". torch 2.5.1 pins triton 3.1.0, which still has it.
# A newer stack (torch 2.14.1, for Blackwell GPUs) lives beside this one in
# stacks/torch-2.14.txt; docs/torch_stacks.md says how to install it and why
# it cannot be an extra of this file.
INSTALL_REQUIRES = [
    "torch==2.5.1",
    "torchvision==0.20.1",
    'triton==3.1.0; platform_system == "Linux" and platform_machine == "x86_64"',
    "xtuner==0.2.0",
    "transformers==4.48.0",
    "mmengine==0.10.6",
    "bitsandbytes==0.45.0",
    "peft==0.14.0",
    "datasets>=3.2.0",
    "tokenizers>=0.21,<0.22",
    "safetensors",
    "tqdm",
    "numpy",
    # eval generate --api-base: OpenAI-compatible servers (vLLM, LMDeploy, SGLang)
    "openai>=1.60,<3",
    "tensorboard",
    "matplotlib",
    # LawBench scoring: jieba segmentation + rouge-chinese ROUGE-L, and cn2an for
    # Chinese numerals. The published LawBench numbers were computed with
    # rouge-chinese 1.0.3 and cn2an 0.5.19-0.5.23 (0.5.24 parses some article
    # numbers differently), hence the exact pins.
    "cn2an==0.5.22",
    "jieba>=0.42.1",
    "rouge-chinese==1.0.3",
    # legal-eagle law: BM25 over the statute index (sparse matrices, offline, no server)
    "bm25s==0.3.16",
]

setup(
    name="legal-eagle-xtuner",
    version="0.1.0",
    description=(
        "XTuner plugin: fine-tune InternLM / InternLM2 chat models into "
        "Chinese legal assistants (DISC-Law-SFT, LAW-GPT)"
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11,<3.13",
    packages=find_packages(include=["legal_eagle_xtuner", "legal_eagle_xtuner.*"]),
    package_data={"legal_eagle_xtuner": ["resources/*.json", "resources/samples/*.json",
                                        "resources/samples/*.jsonl"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # The DeepSpeed release xtuner 0.2.0 asks for in its own extra.
        "deepspeed": ["deepspeed==0.16.2"],
        # the browser tests of `legal-eagle web`, with Debian's chromium (docs/web.md)
        "test": ["pytest>=8", "playwright==1.65.3"],
        # `legal-eagle web`, written for Gradio 5's API. It installs beside the pinned
        # stack without moving a pin (it lowers pandas, pillow and pydantic, which
        # nothing here pins); an unpinned Gradio would pull huggingface-hub 2, which
        # transformers 4.48.0 refuses.
        "web": ["gradio==5.50.0"],
    },
    entry_points={"console_scripts": ["legal-eagle=legal_eagle_xtuner.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "License :: OSI Approved :: Apache Software License",
        "Natural Language :: Chinese (Simplified)",
    ],
)
