"""The gateway's second front end: an HTTPS forward proxy for unmodified tools.

``ca`` keeps capbroker's CA (in the secret backend) and issues leaf certificates per
host; ``checks`` holds what the proxy itself decides (named hosts, proxy credentials, the
tunnel's one token); ``listener`` answers CONNECT and switches to TLS; ``tunnel`` runs
each request inside through the same ``Pipeline.run`` as path mode; ``serve`` runs both
front ends in one event loop.
"""
