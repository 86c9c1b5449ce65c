"""The peak learning rates of the workloads, tuned once (no torch needed to read them).

``LR[model][optimizer]``: the best peak lr of ``LR_GRID`` in fp32, one seed, T = 600 (CNN) and 300
(transformer), the schedule of ``training.schedule`` (docs/fp8.md). fp8_scaling tunes again per size
around these; ``theory-bench fp8-time`` starts from them.
"""
LR_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
LR = {
    "cnn": {"AdamW": 3e-2, "SignSGD": 3e-3, "Lion": 1e-3, "StoSignSGD": 1e-2},
    "transformer": {"AdamW": 1e-2, "SignSGD": 1e-2, "Lion": 3e-3, "StoSignSGD": 1e-2},
}
