"""EKS rules shared by runbooks: Kubernetes versions and skew."""
