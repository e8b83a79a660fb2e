"""Who is calling: admin and agent credentials, their slow hashes, and the verified-credential cache."""
