"""The simulated Amazon EKS control plane: rest-json routed from botocore's service model, with lazy,
clock-driven state machines for clusters, node groups, add-ons and updates.

``api.make_eks_app(sandbox)`` is the WSGI entry point; ``backend.EksBackend`` holds the state.
"""
