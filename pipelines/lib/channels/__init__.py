"""Channel adapters and their registry: which adapter reads a file is decided by its content.

Adding a channel is one new module with a class that follows
:class:`pipelines.lib.channels.base.ChannelAdapter` and one entry in ``ADAPTERS`` below.
"""

from __future__ import annotations

from pipelines.lib.channels.base import ChannelAdapter, ParsedBatch, UnreadableFile

SNIFF_BYTES = 64 * 1024


def _adapters() -> tuple[ChannelAdapter, ...]:
    from pipelines.lib.channels.amazon import AmazonFlatFile
    from pipelines.lib.channels.direct import DirectOrderCsv, DirectOrderJson
    from pipelines.lib.channels.shopify import ShopifyOrdersCsv
    from pipelines.lib.channels.woocommerce import WooCommerceJson

    # Most specific first: the direct-order CSV is checked before any looser CSV sniff.
    return (
        ShopifyOrdersCsv(),
        AmazonFlatFile(),
        WooCommerceJson(),
        DirectOrderCsv(),
        DirectOrderJson(),
    )


def detect(head: bytes) -> ChannelAdapter:
    """The adapter whose layout ``head`` (a file's first bytes) is in, or UnreadableFile."""
    for adapter in _adapters():
        if adapter.sniff(head):
            return adapter
    raise UnreadableFile(
        "unknown layout: not a Shopify, WooCommerce, Amazon or direct-order export", line=1
    )


__all__ = ["SNIFF_BYTES", "ChannelAdapter", "ParsedBatch", "UnreadableFile", "detect"]
