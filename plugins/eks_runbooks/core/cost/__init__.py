"""The nightly cost audit's domain: what a cluster costs per month, part by part, and what to do about it."""
