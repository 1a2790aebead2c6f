"""Risk-signal and intent heads over vigie's sentence embedding."""
