"""The planning syncs: BURC financials and segmentation compliance, client to APAC."""
