"""One module per video model family, each defining FAMILY (see ..families.Family)."""
