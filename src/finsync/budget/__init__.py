"""The customer budget sync: fetch an FP&A export, understand it, check it, import it."""
