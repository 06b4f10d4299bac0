"""What `rollout render` writes besides resources.json and k8s/, one module per component."""
