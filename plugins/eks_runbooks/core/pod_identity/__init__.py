"""The IRSA → EKS Pod Identity migration: who uses IRSA, who may move, what each run does, and proof per pod."""
