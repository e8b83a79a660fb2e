"""Who is calling: admin and agent credentials, their slow hashes, the verified cache."""
