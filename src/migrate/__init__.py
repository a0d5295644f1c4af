"""Flannel to Calico live migration for Kubernetes clusters."""

__version__ = "0.1.0"
