"""EKS fleet simulator: AWS APIs on loopback (moto plus a simulated EKS) coupled to a Kubernetes API per cluster.

The runbook library never imports this package; runbooks reach the sandbox only through its endpoints,
exactly as they reach real AWS and Kubernetes.
"""
