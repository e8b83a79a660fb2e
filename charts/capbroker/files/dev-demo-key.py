# Dev mode: the demo provider's master key, made once. The provider reads it from the data
# volume; the gateway from the local secret store (`capbroker secrets put`, from stdin).
import pathlib
import secrets
import subprocess

path = pathlib.Path("/var/lib/capbroker/demo-provider.key")
if not path.exists():
    key = secrets.token_urlsafe(32)
    subprocess.run(["capbroker", "secrets", "put", "railway-demo"], input=key.encode(), check=True)
    path.write_text(key)
    path.chmod(0o640)
