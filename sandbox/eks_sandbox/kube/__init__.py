"""The simulated Kubernetes API server: one ``KubeCluster`` per EKS cluster, served by ``api.make_kube_app``.

``cluster`` holds the objects and the contract the EKS side drives (nodes, evictions, version, admission);
``controllers`` keep workloads, scheduling and budgets true after every write; ``api`` speaks kube-apiserver's
REST dialect to kubectl and the Kubernetes clients; ``api-resources.yaml`` says what each minor serves.
"""
