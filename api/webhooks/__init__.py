"""Vendor webhooks: ``POST /webhooks/{vendor}`` (issue 8 item 5; reference/cellular-and-logistics.md §0)."""
