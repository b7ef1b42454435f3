"""Demo and benchmark data: channel exports in their real layouts, plus the ground truth.

``generate(out_dir, orders=300, reference_dir=...)`` writes Shopify CSV, WooCommerce JSON and
JSON Lines, Amazon flat files (All Orders and New Orders layouts), direct-order CSV and JSON,
inventory files (an opening snapshot, purchase receipts, stock adjustments and cycle counts)
and ``_generator_manifest.json``. Pure numpy/Polars; no Dagster.
"""

from pipelines.lib.generator.generate import MANIFEST_NAME, GenerateSummary, generate

__all__ = ["MANIFEST_NAME", "GenerateSummary", "generate"]
