"""Lets a forged model take longer prompts: sets max_position_embeddings (config.json) and
model_max_length (tokenizer_config.json). The forges write 1,024; benchmarks of 2,048+ tokens need more.

    python3 onnx-models/bench/set-context.py MODEL_DIR [POSITIONS]     (default 8192)
"""
import json
import os
import sys

model, positions = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8192
for name, key in (('config.json', 'max_position_embeddings'), ('tokenizer_config.json', 'model_max_length')):
    path = os.path.join(model, name)
    config = json.load(open(path))
    (config.get('text_config', config) if name == 'config.json' else config)[key] = positions
    json.dump(config, open(path, 'w'), indent=1)
