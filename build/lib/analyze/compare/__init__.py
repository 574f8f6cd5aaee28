"""Toy heads beside a pretrained model's: placement math (``placement``), the pipeline (``pipeline``), the report."""
