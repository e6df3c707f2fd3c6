"""skl-payout: exact payout runs of Swedish performance-based state grants."""

__version__ = "0.1.0"
