"""The synthetic demo (reads, databases, ground truth) and its evaluation; not imported by the
pipeline's rules (``python -m icibiome.demo``, ``python -m icibiome.demo.evaluate``)."""
