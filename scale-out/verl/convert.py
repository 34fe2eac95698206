"""verl's LoRA adapter, made ready for `gapo adapter import`.

verl's model merger (`python -m verl.model_merger merge --backend fsdp --local_dir
CHECKPOINT/actor --target_dir OUT`) writes the adapter it trained to OUT/lora_adapter in PEFT's
layout (`adapter_model.safetensors` with PEFT's tensor names, `adapter_config.json`), but with
`lora_alpha` 0, on purpose: the merger does not know the run's alpha, and an alpha of 0 scales
the adapter to nothing. This writes a copy with the run's alpha (the value of
`actor_rollout_ref.model.lora_alpha`) and, if given, the base model it was trained on.

    /usr/bin/python3 scale-out/verl/convert.py OUT/lora_adapter ADAPTER_DIR --alpha 32 [--base MODEL]
    gapo adapter import ADAPTER_DIR

Python's standard library only.
"""

import argparse
import json
import os
import shutil
import sys


def convert(source, target, alpha, base=None):
    with open(os.path.join(source, 'adapter_config.json'), encoding='utf-8') as f:
        config = json.load(f)
    if config.get('peft_type', 'LORA') != 'LORA':
        raise ValueError(f'{source}: peft_type {config.get("peft_type")} is not LORA')
    if not alpha > 0:
        raise ValueError(f'--alpha must be positive, got {alpha}')
    config.update({'peft_type': 'LORA', 'lora_alpha': alpha})
    config.setdefault('task_type', 'CAUSAL_LM')
    if base is not None:
        config['base_model_name_or_path'] = base
    os.makedirs(target, exist_ok=True)
    shutil.copyfile(os.path.join(source, 'adapter_model.safetensors'), os.path.join(target, 'adapter_model.safetensors'))
    with open(os.path.join(target, 'adapter_config.json'), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
    return config


def main(argv):
    parser = argparse.ArgumentParser(description="verl's LoRA adapter (its model merger's lora_adapter folder) made ready for gapo adapter import")
    parser.add_argument('source', help="the merger's OUT/lora_adapter folder")
    parser.add_argument('target', help='where to write the adapter')
    parser.add_argument('--alpha', type=float, required=True, help="the run's actor_rollout_ref.model.lora_alpha")
    parser.add_argument('--base', help='the base model the adapter was trained on (a folder or ORG/NAME)')
    args = parser.parse_args(argv)
    try:
        config = convert(args.source, args.target, args.alpha, args.base)
    except (OSError, ValueError, json.JSONDecodeError) as error:
        print(f'convert.py: {error}', file=sys.stderr)
        return 1
    print(f'wrote {args.target}: rank {config.get("r")}, alpha {config["lora_alpha"]}; next: gapo adapter import {args.target}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
