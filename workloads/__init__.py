"""The workloads the torch experiments train (AlgoPerf's word): models, data sets and training loops
that fp8, fp8_scaling and finetune share, installed as ``theory_bench.workloads``.

- ``models``: the digits CNN and the byte-level transformer, with a top-1 routed mixture of experts or
  a dense MLP, at any size (``TransformerSize``);
- ``data``: data every machine has without a download (scikit-learn's digits, the Python standard
  library's source as bytes);
- ``training``: one run (a model, an optimizer, a recipe, a seed) with warm-up and cosine decay, its
  validation curve, and the state statistics of the FP8 recipes.

Experiments import from here; nothing here imports an experiment. Everything but ``data`` needs torch.
"""
if __name__ != "theory_bench.workloads":        # `import workloads` from a checkout: the installed package
    from theory_bench.checkout_alias import alias
    alias(__name__, "theory_bench.workloads")
