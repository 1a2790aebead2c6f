"""Recipe that builds vigie's sentiment model from pinned registry packages and UMSAB."""
