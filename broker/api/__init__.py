"""The broker's HTTP surface (Litestar): controllers, wire schemas, error mapping."""
