"""Stage ecology: diversity, co-abundance networks and guilds (rules/diversity.smk, rules/networks.smk)."""
