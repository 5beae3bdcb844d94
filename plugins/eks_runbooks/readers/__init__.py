"""Read-only: what the hooks and the Kubernetes client return, mapped into the domain core's inputs."""
