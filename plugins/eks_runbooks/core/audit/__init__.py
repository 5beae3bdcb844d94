"""The compliance audit's domain core: its checks, waivers, trend and report."""
